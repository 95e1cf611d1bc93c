using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Peeq.Cdc.Reconciler.Values;

/// <summary>
/// PostgreSQL's jsonb output, computed from any JSON text: object keys unique (the last one wins) and
/// ordered by length then bytes, ", " and ": " separators, numbers as numeric prints them, strings
/// escaped as PostgreSQL escapes them.
/// </summary>
public static class JsonbText
{
    public static bool TryCanonical(string text, out string canonical)
    {
        canonical = text;
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 256 });
            var sb = new StringBuilder(text.Length + 16);
            Write(sb, doc.RootElement);
            canonical = sb.ToString();
            return true;
        }
        catch (Exception e) when (e is JsonException or FormatException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// The same text as <see cref="TryCanonical(string, out string)"/> of <c>node.ToJsonString()</c> (or that JSON
    /// text itself when it is not canonicalisable), written from the nodes without serialising and parsing them
    /// again: the origin key of every source row passes through here.
    /// </summary>
    public static string Canonical(JsonNode node)
    {
        var sb = new StringBuilder(64);
        if (TryWrite(sb, node))
        {
            return sb.ToString();
        }

        var json = node.ToJsonString();
        return TryCanonical(json, out var canonical) ? canonical : json;
    }

    private static bool TryWrite(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                return true;
            case JsonObject o:
                if (o.Count > 1)
                {
                    var keys = new List<(string Key, byte[] Bytes, JsonNode? Value)>(o.Count);
                    foreach (var (k, v) in o)
                    {
                        if (HasSurrogate(k))
                        {
                            return false;
                        }

                        keys.Add((k, Encoding.UTF8.GetBytes(k), v));
                    }

                    keys.Sort((a, b) => KeyOrder(a.Bytes, b.Bytes));
                    sb.Append('{');
                    for (var i = 0; i < keys.Count; i++)
                    {
                        if (i > 0)
                        {
                            sb.Append(", ");
                        }

                        WriteString(sb, keys[i].Key);
                        sb.Append(": ");
                        if (!TryWrite(sb, keys[i].Value))
                        {
                            return false;
                        }
                    }

                    sb.Append('}');
                    return true;
                }

                sb.Append('{');
                foreach (var (k, v) in o)
                {
                    if (HasSurrogate(k))
                    {
                        return false;
                    }

                    WriteString(sb, k);
                    sb.Append(": ");
                    if (!TryWrite(sb, v))
                    {
                        return false;
                    }
                }

                sb.Append('}');
                return true;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    if (!TryWrite(sb, a[i]))
                    {
                        return false;
                    }
                }

                sb.Append(']');
                return true;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String when v.TryGetValue<string>(out var s) && !HasSurrogate(s):
                        WriteString(sb, s);
                        return true;
                    case JsonValueKind.Number when ExactDecimal.TryParse(v.ToJsonString(), out var d):
                        sb.Append(d.ToString());
                        return true;
                    case JsonValueKind.True:
                        sb.Append("true");
                        return true;
                    case JsonValueKind.False:
                        sb.Append("false");
                        return true;
                    case JsonValueKind.Null:
                        sb.Append("null");
                        return true;
                    default:
                        return false;
                }

            default:
                return false;
        }
    }

    /// <summary>jsonb's order of object keys: shorter first, then by their UTF-8 bytes.</summary>
    private static int KeyOrder(byte[] a, byte[] b) => a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.AsSpan().SequenceCompareTo(b);

    private static bool HasSurrogate(string s)
    {
        foreach (var c in s)
        {
            if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    private static void Write(StringBuilder sb, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var pairs = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                {
                    pairs[p.Name] = p.Value;
                }

                var keys = pairs.Keys.Select(k => (Key: k, Bytes: Encoding.UTF8.GetBytes(k))).ToList();
                keys.Sort((a, b) => KeyOrder(a.Bytes, b.Bytes));
                sb.Append('{');
                for (var i = 0; i < keys.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    WriteString(sb, keys[i].Key);
                    sb.Append(": ");
                    Write(sb, pairs[keys[i].Key]);
                }

                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                var first = true;
                foreach (var item in e.EnumerateArray())
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    Write(sb, item);
                }

                sb.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(sb, e.GetString()!);
                break;
            case JsonValueKind.Number:
                sb.Append(ExactDecimal.Parse(e.GetRawText()).ToString());
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            default:
                sb.Append("null");
                break;
        }
    }

    /// <summary>A string as PostgreSQL's json and jsonb output quote it.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        WriteString(sb, s);
        return sb.ToString();
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
