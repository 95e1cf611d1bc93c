using System.Globalization;
using System.Text.Json.Nodes;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>
/// A value while a mapping expression is evaluated. Strings keep PostgreSQL's text form (uuid,
/// timestamps, dates), numerics stay exact, json keeps its document text.
/// </summary>
public abstract record Value
{
    public static readonly NullValue Null = new();

    public bool IsNull => this is NullValue;
}

/// <summary>SQL NULL.</summary>
public sealed record NullValue : Value;

public sealed record BoolValue(bool V) : Value;

public sealed record IntValue(long V) : Value;

public sealed record DecimalValue(ExactDecimal V) : Value;

/// <summary>A float in its exact shortest text (or NaN/Infinity/-Infinity).</summary>
public sealed record FloatValue(string Text) : Value;

/// <summary>Text in PostgreSQL's own form, tagged with its type (text, varchar, uuid, date, timestamp, ...).</summary>
public sealed record TextValue(string V, SqlType Type) : Value;

/// <summary>A json/jsonb document, as its text.</summary>
public sealed record JsonValueDoc(string Document, SqlType Type) : Value;

public sealed record ArrayValue(IReadOnlyList<Value> Items, SqlType ElementType) : Value;

/// <summary>A reference the Sink resolves against peeq_cdc.identity_map (docs/contracts.md, "$lookup").</summary>
public sealed record LookupValue(string Kind, string Key, string? Target) : Value;

/// <summary>A sealed sensitive value: opaque, can only be copied to a target column of the same name.</summary>
public sealed record SealedValue(JsonNode Node, string Column) : Value;

public static class Values
{
    public static string Describe(Value v) => v switch
    {
        NullValue => "NULL",
        BoolValue b => b.V ? "true" : "false",
        IntValue i => i.V.ToString(CultureInfo.InvariantCulture),
        DecimalValue d => d.V.ToString(),
        FloatValue f => f.Text,
        TextValue t => Truncate(t.V),
        JsonValueDoc j => Truncate(j.Document),
        ArrayValue a => $"array of {a.Items.Count}",
        LookupValue l => $"lookup({l.Kind}, {l.Key})",
        SealedValue => "(sealed)",
        _ => v.ToString(),
    };

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "...";
}
