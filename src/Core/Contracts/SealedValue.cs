using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// A sensitive column's value in an event: <c>{"$enc":"v1:&lt;base64(nonce|ciphertext|tag)&gt;"}</c>,
/// AES-256-GCM authenticated with the column's name. Only Capture and the Sink hold the key, so Kafka,
/// Transform and logs see ciphertext only; the name binding stops a value being moved to another column.
/// </summary>
public static class SealedValue
{
    public const string Marker = "$enc";

    /// <summary>Reads a 32-byte key from base64 text (the PEEQ_CDC_SEAL_KEY setting).</summary>
    public static byte[] ParseKey(string base64)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(base64.Trim());
        }
        catch (FormatException)
        {
            throw new FormatException("the sealing key must be 32 bytes in base64 (openssl rand -base64 32)");
        }

        return key.Length == 32 ? key : throw new FormatException($"the sealing key must be 32 bytes, got {key.Length}");
    }

    public static string Seal(byte[] key, string column, string plaintext)
    {
        var data = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[12 + data.Length + 16];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var gcm = new AesGcm(key, 16);
        gcm.Encrypt(output.AsSpan(0, 12), data, output.AsSpan(12, data.Length), output.AsSpan(12 + data.Length), Encoding.UTF8.GetBytes(column));
        return "v1:" + Convert.ToBase64String(output);
    }

    public static string Unseal(byte[] key, string column, string sealedText)
    {
        if (!sealedText.StartsWith("v1:", StringComparison.Ordinal))
        {
            throw new CryptographicException("unknown sealed value version");
        }

        var input = Convert.FromBase64String(sealedText[3..]);
        var length = input.Length - 28;
        if (length < 0)
        {
            throw new CryptographicException("sealed value too short");
        }

        var plain = new byte[length];
        using var gcm = new AesGcm(key, 16);
        gcm.Decrypt(input.AsSpan(0, 12), input.AsSpan(12, length), input.AsSpan(12 + length), plain, Encoding.UTF8.GetBytes(column));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>True when an event value is a sealed value object.</summary>
    public static bool IsSealed(JsonNode? value, out string sealedText)
    {
        sealedText = "";
        if (value is JsonObject { Count: 1 } o && o[Marker] is JsonValue v && v.TryGetValue<string>(out var s))
        {
            sealedText = s;
            return true;
        }

        return false;
    }
}
