using System.Text.Json;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>How a sensitive column's value travels: sealed (encrypted for the Sink) or not at all.</summary>
public interface ISensitiveValueProtector
{
    /// <summary>True when values are left out of events entirely (no key configured).</summary>
    bool Omits { get; }

    void Write(Utf8JsonWriter writer, CapturedColumn column, string plaintext);
}

/// <summary>
/// Without a sealing key, sensitive values never leave Capture: the column is left out of the event and
/// listed as unchanged, so the Sink keeps whatever the target holds instead of writing NULL over it.
/// </summary>
public sealed class OmitSensitiveValues : ISensitiveValueProtector
{
    public static readonly OmitSensitiveValues Instance = new();

    public bool Omits => true;

    public void Write(Utf8JsonWriter writer, CapturedColumn column, string plaintext) =>
        throw new InvalidOperationException("omitted values are never written");
}

/// <summary>Seals sensitive values with AES-256-GCM (<see cref="SealedValue"/>) so the Sink can restore them.</summary>
public sealed class SealSensitiveValues(byte[] key) : ISensitiveValueProtector
{
    public bool Omits => false;

    public void Write(Utf8JsonWriter writer, CapturedColumn column, string plaintext)
    {
        writer.WriteStartObject();
        writer.WriteString(SealedValue.Marker, SealedValue.Seal(key, column.Name, plaintext));
        writer.WriteEndObject();
    }
}
