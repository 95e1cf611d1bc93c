using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Contracts;
using Xunit;

namespace Peeq.Cdc.Tests.Unit.Capture;

/// <summary>
/// Capture's encoder (one reused writer per session, values written from pgoutput's UTF-8 bytes) against the encoder it
/// replaced (a writer per event, a string per value; <see cref="Legacy"/> is main's code as of 7bb4fe5), byte for byte, for
/// every type the legacy schemas use and its awkward values: the raw event contract (docs/contracts.md) must not move.
/// </summary>
public sealed partial class RawEventEncoderTests
{
    private static readonly TableId Table = new("public", "things");

    public static TheoryData<uint, string> Values()
    {
        var data = new TheoryData<uint, string>();
        void Add(uint oid, params string[] texts)
        {
            foreach (var t in texts)
            {
                data.Add(oid, t);
            }
        }

        string[] text =
        [
            "", "plain", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r", "control \u0001\u001f\u007f", "ünïcödé 日本語",
            "emoji 😀👍🏽", "html <script>&'+`", "line sep \u2028\u2029", "nbsp\u00a0soft\u00ad", "{\"looks\": \"like json\"}",
        ];
        Add(16, "t", "f");
        Add(17, "\\x", "\\x00ff10deadbeef");
        Add(20, "0", "-9223372036854775808", "9223372036854775807");
        Add(21, "-32768", "7");
        Add(23, "2147483647", "-1");
        Add(26, "4294967295");
        Add(25, text);
        Add(1043, text);
        Add(1042, "x    ", "ü");
        Add(19, "pg_catalog");
        Add(18, "x");
        Add(114, "{\"a\": [1, 2.50, \"x\\\"y\"], \"b\": null}", "\"str\"", "[]", "{\"ü\": \"😀\"}");
        Add(3802, "{\"a\": [1, 2.50, \"x\\\"y\"], \"b\": null}", "\"str\"", "[]", "{\"k\": \"<&>\"}");
        Add(700, "1.5", "-0", "3.4028235e+38", "NaN", "Infinity", "-Infinity");
        Add(701, "1e+308", "-1.2345678901234567e-300", "NaN", "-Infinity");
        Add(1700, "12345678901234567890.123456789", "-0.00", "NaN", "0");
        Add(1082, "2024-02-29", "infinity", "4713-01-01 BC");
        Add(1083, "23:59:59.999999");
        Add(1114, "2024-01-01 00:00:00.123456", "-infinity");
        Add(1184, "2024-01-01 00:00:00.123456+00", "1999-12-31 23:59:59+05:30", "infinity");
        Add(1186, "1 year 2 mons 3 days 04:05:06.789", "-00:00:01");
        Add(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        Add(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12}", "{}");
        Add(1009, "{\"a b\",NULL,\"q\\\"x\",ü,\"\"}", "{{a,b},{c,NULL}}", "{}");
        Add(1015, "{x,\"y,z\",😀}");
        Add(1007, "{{1,2},{3,NULL}}", "{-2147483648}");
        Add(1000, "{t,f,NULL}");
        Add(1001, "{\"\\\\x00ff\",NULL}");
        Add(1022, "{NaN,1.5,-Infinity}");
        Add(1231, "{1.10,NaN}");
        Add(1185, "{\"2024-01-01 00:00:00+00\",infinity}");
        Add(3807, "{\"{\\\"a\\\": 1}\",NULL}");
        return data;
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void streamed_changes_encode_byte_for_byte_as_the_replaced_encoder_did(uint oid, string value)
    {
        CapturedColumn[] columns =
        [
            new("id", PgType.BuiltIn(20), true, false),
            new("v", PgType.BuiltIn(oid), false, false),
            new("n", PgType.BuiltIn(oid), false, false),
            new("secret", PgType.BuiltIn(25), false, true),
            new("toasted", PgType.BuiltIn(oid), false, false),
            new("ünï \"name\"", PgType.BuiltIn(oid), false, false),
        ];
        string?[] values = ["42", value, null, "s3cret ü", null, value];
        bool[] unchanged = [false, false, false, false, true, false];
        string?[] oldValues = ["42", value, null, "old", null, value];
        bool[] none = [false, false, false, false, false, false];

        foreach (var protector in new ISensitiveValueProtector[] { OmitSensitiveValues.Instance, new ReversingProtector() })
        {
            foreach (var op in new[] { ChangeOp.Create, ChangeOp.Update, ChangeOp.Delete, ChangeOp.Read })
            {
                var before = op is ChangeOp.Update or ChangeOp.Delete ? oldValues : null;
                var after = op is ChangeOp.Delete ? null : values;
                var encoder = new RawEventWriter();

                // Encode one unrelated event first: the reused writer and buffers must not carry anything over.
                Encode(encoder, CapturedRow.FromStreamed(columns, oldValues, none, protector), null);
                var newBefore = before is null ? null : CapturedRow.FromStreamed(columns, before, none, protector);
                var newAfter = after is null ? null : CapturedRow.FromStreamed(columns, after, unchanged, protector);
                var (newValue, newKey) = Encode(encoder, newAfter ?? newBefore!, newBefore, newAfter, op);

                var oldBefore = before is null ? null : new Legacy.Row(columns, before, none, protector);
                var oldAfter = after is null ? null : new Legacy.Row(columns, after, unchanged, protector);
                var buffer = new ArrayBufferWriter<byte>();
                Legacy.WriteChange(buffer, "src ü", "db", Table, op, new SourcePosition(new Lsn(0x1_0000_00AB), 7), new Lsn(0x1_0000_0001), 4_294_967_295,
                    1_700_000_000_123, op == ChangeOp.Read, oldBefore, oldAfter, oldAfter?.Unchanged, 3);
                var oldKey = RawEventCodec.WriteKey((oldAfter ?? oldBefore!).KeyImage, Table.ToString());

                Assert.Equal(Normalised(buffer.WrittenSpan), Normalised(newValue));
                Assert.Equal(Encoding.UTF8.GetString(oldKey), Encoding.UTF8.GetString(newKey));
            }
        }
    }

    [Fact]
    public void a_keyless_change_is_keyed_by_its_table_name_as_before()
    {
        CapturedColumn[] columns = [new("v", PgType.BuiltIn(25), false, false)];
        var row = CapturedRow.FromStreamed(columns, ["ü"], [false], OmitSensitiveValues.Instance);
        Assert.Equal(RawEventCodec.WriteKey(null, Table.ToString()), new RawEventWriter().Key(null, Table));
        Assert.False(row.HasKey);
    }

    [Fact]
    public void a_streamed_row_gives_its_text_as_a_string_where_one_is_needed()
    {
        CapturedColumn[] columns = [new("id", PgType.BuiltIn(20), true, false), new("v", PgType.BuiltIn(25), false, false)];
        var streamed = CapturedRow.FromStreamed(columns, ["1", "ünï 😀"], [false, false], OmitSensitiveValues.Instance);
        Assert.Equal("1", streamed[0]);
        Assert.Equal("ünï 😀", streamed[1]);

        // A snapshot merge lays a streamed change over a chunk row: the strings carry over.
        var chunkRow = CapturedRow.FromValues(columns, ["1", "old"], OmitSensitiveValues.Instance);
        var merged = chunkRow.Overlay(CapturedRow.FromStreamed(columns, ["1", "new ü"], [false, false], OmitSensitiveValues.Instance))!;
        Assert.Equal("new ü", merged[1]);
        var kept = chunkRow.Overlay(CapturedRow.FromStreamed(columns, ["1", null], [false, true], OmitSensitiveValues.Instance))!;
        Assert.Equal("old", kept[1]);
    }

    private static (byte[] Value, byte[] Key) Encode(RawEventWriter encoder, CapturedRow keySource, CapturedRow? before, CapturedRow? after = null, ChangeOp op = ChangeOp.Create)
    {
        RawEventCodec.WriteChange(encoder.StartValue(), "src ü", "db", Table, op, new SourcePosition(new Lsn(0x1_0000_00AB), 7), new Lsn(0x1_0000_0001), 4_294_967_295,
            1_700_000_000_123, op == ChangeOp.Read, before, after, after?.Unchanged, 3);
        var value = encoder.Value.ToArray();
        return (value, encoder.Key(keySource.KeyImage, Table));
    }

    /// <summary>The envelope's own processing time (top-level ts_ms) is the clock's; everything else must be equal.</summary>
    private static string Normalised(ReadOnlySpan<byte> value) => ProcessedAt().Replace(Encoding.UTF8.GetString(value), "\"op\":\"$1\",\"ts_ms\":0,");

    [GeneratedRegex("\"op\":\"(.)\",\"ts_ms\":[0-9]+,")]
    private static partial Regex ProcessedAt();

    /// <summary>A deterministic stand-in for sealing: the sensitive path must hand the protector the same text.</summary>
    private sealed class ReversingProtector : ISensitiveValueProtector
    {
        public bool Omits => false;

        public void Write(Utf8JsonWriter writer, CapturedColumn column, string plaintext) => writer.WriteStringValue(new string(plaintext.Reverse().ToArray()));
    }

    /// <summary>The encoder as it was before session 6 (main 7bb4fe5): RawEventCodec.WriteChange and CapturedRow's string path.</summary>
    private static class Legacy
    {
        public sealed class Row(CapturedColumn[] columns, string?[] values, bool[] unchanged, ISensitiveValueProtector protector) : IRowImage
        {
            private readonly bool[] _present = values.Select((_, i) => !unchanged[i]).ToArray();

            public IReadOnlyList<string> Unchanged => columns.Where((c, i) => unchanged[i] || Omitted(c, i)).Select(c => c.Name).ToArray();

            public IRowImage KeyImage => new KeyView(this);

            public void WriteTo(Utf8JsonWriter w) => Write(w, keysOnly: false);

            private bool Omitted(CapturedColumn c, int i) => c.Sensitive && protector.Omits && _present[i];

            private void Write(Utf8JsonWriter w, bool keysOnly)
            {
                w.WriteStartObject();
                for (var i = 0; i < columns.Length; i++)
                {
                    var c = columns[i];
                    if (!_present[i] || keysOnly && !c.IsKey || Omitted(c, i))
                    {
                        continue;
                    }

                    w.WritePropertyName(c.Name);
                    var text = values[i];
                    if (text is null)
                    {
                        w.WriteNullValue();
                    }
                    else if (c.Sensitive)
                    {
                        protector.Write(w, c, text);
                    }
                    else
                    {
                        ValueCodec.WriteJson(w, c.Type, text);
                    }
                }

                w.WriteEndObject();
            }

            private sealed class KeyView(Row row) : IRowImage
            {
                public void WriteTo(Utf8JsonWriter writer) => row.Write(writer, keysOnly: true);
            }
        }

        public static void WriteChange(
            IBufferWriter<byte> buffer, string source, string database, TableId table, ChangeOp op, SourcePosition position, Lsn changeLsn, long txId, long tsMs,
            bool snapshot, IRowImage? before, IRowImage? after, IReadOnlyList<string>? unchanged, long dataCollectionOrder = 0)
        {
            using var w = new Utf8JsonWriter(buffer, RawEventCodec.WriterOptions);
            w.WriteStartObject();
            w.WritePropertyName("before");
            if (before is null)
            {
                w.WriteNullValue();
            }
            else
            {
                before.WriteTo(w);
            }

            w.WritePropertyName("after");
            if (after is null)
            {
                w.WriteNullValue();
            }
            else
            {
                after.WriteTo(w);
            }

            w.WriteStartObject("source");
            w.WriteString("version", RawEventCodec.Version);
            w.WriteString("connector", "postgresql");
            w.WriteString("name", source);
            w.WriteNumber("ts_ms", tsMs);
            w.WriteString("snapshot", snapshot ? "true" : "false");
            w.WriteString("db", database);
            w.WriteNull("sequence");
            w.WriteString("schema", table.Schema);
            w.WriteString("table", table.Name);
            w.WriteNumber("txId", txId);
            w.WriteNumber("lsn", changeLsn.Value);
            w.WriteNull("xmin");
            w.WriteString("commit_lsn", position.CommitLsn.ToString());
            w.WriteNumber("seq", position.Seq);
            w.WriteEndObject();
            w.WriteString("op", RawEventCodec.OpCode(op));
            w.WriteNumber("ts_ms", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            w.WriteStartObject("transaction");
            w.WriteString("id", $"{txId}:{position.CommitLsn.Value}");
            w.WriteNumber("total_order", position.Seq);
            w.WriteNumber("data_collection_order", dataCollectionOrder);
            w.WriteEndObject();
            if (unchanged is { Count: > 0 })
            {
                w.WriteStartArray("unchanged");
                foreach (var c in unchanged)
                {
                    w.WriteStringValue(c);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }
    }
}
