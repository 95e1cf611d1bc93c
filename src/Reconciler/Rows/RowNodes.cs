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
    private readonly List<int> _parsed = [];
    private KeyValuePair<string, JsonNode?>[] _row = [];
    private int _count;

    public RowNodes() => _writer = new Utf8JsonWriter(_buffer, RawEventCodec.WriterOptions);

    /// <summary>Whether <see cref="ValueCodec.WriteJson"/> writes this text as a plain JSON string of the text itself.</summary>
    internal static bool IsString(PgType type, string text) => type.Kind switch
    {
        ValueKind.Boolean or ValueKind.Integer or ValueKind.Bytes => false,
        ValueKind.Float => text is "NaN" or "Infinity" or "-Infinity",
        ValueKind.Array => type.Element is null,
        _ => true,
    };

    /// <summary>Starts a row of at most <paramref name="columns"/> values.</summary>
    public void Start(int columns)
    {
        _parsed.Clear();
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        if (_row.Length < columns)
        {
            _row = new KeyValuePair<string, JsonNode?>[columns];
        }

        _count = 0;
    }

    /// <summary>Adds the value of <paramref name="column"/> (null for SQL NULL), in column order.</summary>
    public void Add(string column, PgType type, string? text)
    {
        if (text is null)
        {
            _row[_count++] = new(column, null);
        }
        else if (IsString(type, text))
        {
            _row[_count++] = new(column, JsonValue.Create(text));
        }
        else
        {
            if (_parsed.Count == 0)
            {
                _writer.WriteStartArray();
            }

            ValueCodec.WriteJson(_writer, type, text);
            _parsed.Add(_count);
            _row[_count++] = new(column, null); // its place in the column order; the parsed node replaces it in Finish
        }
    }

    /// <summary>Adds a node built elsewhere (a sealed value), in column order.</summary>
    public void Add(string column, JsonNode node) => _row[_count++] = new(column, node);

    /// <summary>
    /// The row's object: its non-string values parsed (one document), each node in its place, and the object made
    /// with room for every property at once (the same properties in the same order as setting them one by one).
    /// </summary>
    public JsonObject Finish()
    {
        if (_parsed.Count > 0)
        {
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
                _row[_parsed[i]] = new(_row[_parsed[i]].Key, nodes[i]);
            }
        }

        var after = new JsonObject(new ArraySegment<KeyValuePair<string, JsonNode?>>(_row, 0, _count));
        Array.Clear(_row, 0, _count); // the nodes belong to the row now
        return after;
    }
}
