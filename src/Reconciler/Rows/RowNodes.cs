using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>
/// Builds a source row's <c>after</c> object from PostgreSQL's text of each value, node for node what the
/// Transform gets when it parses the event Capture wrote (<see cref="ValueCodec.WriteJson"/>, then
/// <c>JsonNode.Parse</c>), without writing and parsing the whole row. A value that ValueCodec writes as a
/// JSON string (text, varchar, uuid, numeric, dates and times, json/jsonb, float NaN/Infinity) is built
/// directly as a string node: every reading the mapping and the reconciler make of a node (its value kind,
/// <c>GetValue&lt;string&gt;</c>/<c>TryGetValue&lt;string&gt;</c>, <c>ToJsonString</c>, <c>WriteTo</c>,
/// <c>DeepClone</c>, <c>DeepEquals</c>) gives the same answer for it as for the parsed string.
/// Every other value (booleans, numbers, bytea, arrays) is still written with ValueCodec and parsed, all
/// of a row's such values in one small document, so those nodes are the parsed nodes themselves.
/// RowNodesTests compares the two paths on every legacy type.
/// </summary>
internal sealed class RowNodes
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly Utf8JsonWriter _writer;
    private readonly List<string> _parsed = [];

    public RowNodes() => _writer = new Utf8JsonWriter(_buffer, RawEventCodec.WriterOptions);

    /// <summary>Whether <see cref="ValueCodec.WriteJson"/> writes this text as a plain JSON string of the text itself.</summary>
    internal static bool IsString(PgType type, string text) => type.Kind switch
    {
        ValueKind.Boolean or ValueKind.Integer or ValueKind.Bytes => false,
        ValueKind.Float => text is "NaN" or "Infinity" or "-Infinity",
        ValueKind.Array => type.Element is null,
        _ => true,
    };

    /// <summary>Starts a row.</summary>
    public void Start()
    {
        _parsed.Clear();
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
    }

    /// <summary>Adds the value of <paramref name="column"/> (null for SQL NULL) to <paramref name="after"/>, in column order.</summary>
    public void Add(JsonObject after, string column, PgType type, string? text)
    {
        if (text is null)
        {
            after[column] = null;
        }
        else if (IsString(type, text))
        {
            after[column] = JsonValue.Create(text);
        }
        else
        {
            if (_parsed.Count == 0)
            {
                _writer.WriteStartArray();
            }

            ValueCodec.WriteJson(_writer, type, text);
            after[column] = null; // its place in the column order; the parsed node replaces it in Finish
            _parsed.Add(column);
        }
    }

    /// <summary>Parses the row's non-string values (one document) and puts each node in its place.</summary>
    public void Finish(JsonObject after)
    {
        if (_parsed.Count == 0)
        {
            return;
        }

        _writer.WriteEndArray();
        _writer.Flush();
        var array = (JsonArray)JsonNode.Parse(_buffer.WrittenSpan)!;
        var nodes = new JsonNode?[array.Count];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = array[i];
        }

        array.Clear(); // detaches each node from the array, so it can be given to the row
        for (var i = 0; i < nodes.Length; i++)
        {
            after[_parsed[i]] = nodes[i];
        }
    }
}
