using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Balances;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Schema;

namespace Peeq.Cdc.Tests.Unit.Reconciler;

public sealed class ExactDecimalTests
{
    [Theory]
    [InlineData("10.5000", "10.5")]
    [InlineData("-0.0100", "-0.01")]
    [InlineData("0", "0")]
    [InlineData("-0.0", "0")]
    [InlineData("1e2", "100")]
    [InlineData("1.50e1", "15")]
    [InlineData("123456789012345678901234567890.1234", "123456789012345678901234567890.1234")]
    public void parses_postgres_numeric_text_exactly(string text, string normalized) =>
        Assert.Equal(normalized, ExactDecimal.Parse(text).Normalize().ToString());

    [Fact]
    public void two_million_maximal_wallet_amounts_add_up_without_losing_a_digit()
    {
        // numeric(19,4): 15 integer digits. System.Decimal (28-29 significant digits) would still hold this
        // sum, but nothing here depends on that: the arithmetic is unbounded.
        var max = ExactDecimal.Parse("999999999999999.9999");
        var sum = ExactDecimal.Zero;
        for (var i = 0; i < 2_000_000; i++)
        {
            sum += max;
        }

        Assert.Equal("1999999999999999999800.0000", sum.ToString());
        Assert.Equal(sum, ExactDecimal.Parse("199999999999999999980000") * ExactDecimal.Parse("0.01"));
    }

    [Fact]
    public void cents_convert_exactly_and_one_cent_is_a_difference()
    {
        var cents = ExactDecimal.Parse("1050") * ExactDecimal.Parse("0.01");
        Assert.Equal(ExactDecimal.Parse("10.5000"), cents);
        Assert.NotEqual(ExactDecimal.Parse("10.51"), cents);
        Assert.Equal("0.01", (ExactDecimal.Parse("10.51") - cents).Normalize().ToString());
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1.2.3")]
    [InlineData("")]
    public void refuses_what_is_not_a_finite_decimal(string text) => Assert.False(ExactDecimal.TryParse(text, out _));
}

public sealed class CanonicalValueTests
{
    private static PgType T(uint oid) => PgType.BuiltIn(oid);

    [Theory]
    [InlineData(1114u, "2024-01-01 12:00:00.500000", "2024-01-01 12:00:00.5")]
    [InlineData(1114u, "2024-01-01T12:00:00Z", "2024-01-01 12:00:00")]
    [InlineData(1114u, "2024-01-01 12:00:00+02", "2024-01-01 12:00:00")]
    [InlineData(1184u, "2024-01-01 12:00:00+02", "2024-01-01 10:00:00+00")]
    [InlineData(1184u, "2024-01-01 12:00:00.123456-03:30", "2024-01-01 15:30:00.123456+00")]
    [InlineData(2950u, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]
    [InlineData(16u, "true", "t")]
    [InlineData(1700u, "10.50", "10.5")]
    [InlineData(23u, " 42", "42")]
    [InlineData(1009u, "{\"a\",\"b c\",NULL,\"\"}", "{a,\"b c\",NULL,\"\"}")]
    [InlineData(2951u, "{\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\"}", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}")]
    public void input_text_becomes_what_postgres_prints(uint oid, string input, string output) =>
        Assert.Equal(output, CanonicalValue.Of(input, T(oid)));

    [Fact]
    public void jsonb_is_compared_as_postgres_stores_it()
    {
        var jsonb = T(3802);
        Assert.Equal("""{"b": 2, "aa": [1, 2.50, "x"], "ccc": {"é": null}}""", CanonicalValue.Of("""{"ccc":{"\u00e9":null},"aa":[1,2.50,"x"],"b":1,"b":2}""", jsonb));
        Assert.True(CanonicalValue.Equal("""{"n": 1e2}""", """{"n": 100}""", jsonb, out _));
        Assert.False(CanonicalValue.Equal("""{"n": 1.0}""", """{"n": 1.00}""", jsonb, out _));
    }

    [Fact]
    public void a_rounding_on_the_way_in_is_a_difference_not_hidden_by_normalising()
    {
        Assert.True(CanonicalValue.Equal("10.5", "10.50", T(1700), out _));
        Assert.False(CanonicalValue.Equal("10.555", "10.56", T(1700), out _));
        Assert.False(CanonicalValue.Equal("2024-01-01 12:00:00.1234567", "2024-01-01 12:00:00.123457", T(1114), out _));
    }

    [Fact]
    public void null_differs_from_empty_and_from_a_value()
    {
        Assert.True(CanonicalValue.Equal(null, null, T(25), out _));
        Assert.False(CanonicalValue.Equal(null, "", T(25), out _));
        Assert.False(CanonicalValue.Equal("0", null, T(23), out _));
    }

    [Fact]
    public void json_keeps_its_text_but_equal_documents_match()
    {
        Assert.True(CanonicalValue.Equal("""{"a":1,"b":[1,2]}""", """{"a": 1, "b": [1, 2]}""", T(114), out _));
        Assert.False(CanonicalValue.Equal("""{"a":1}""", """{"a":2}""", T(114), out _));
    }
}

public sealed class KeyOrderTests
{
    [Fact]
    public void integers_order_by_value_and_text_by_code_point_like_collate_c()
    {
        Assert.True(KeyOrder.Compare("9", "10", KeySort.Integer) < 0);
        Assert.True(KeyOrder.Compare("9", "10", KeySort.Text) > 0);
        Assert.True(KeyOrder.Compare("Z", "a", KeySort.Text) < 0);
        // U+FF21 (BMP, above the surrogates) sorts before U+1F600 in UTF-8 byte order, unlike UTF-16 code units.
        Assert.True(KeyOrder.Compare("\uFF21", "\U0001F600", KeySort.Text) < 0);
        Assert.True(KeyOrder.Compare(null, "a", KeySort.Text) > 0);
    }

    [Fact]
    public void order_expressions_quote_identifiers_and_avoid_collations()
    {
        Assert.Equal("\"Odd \"\"id\"\"\"", KeyOrder.SourceExpression("Odd \"id\"", PgType.BuiltIn(20)));
        Assert.Equal("\"code\"::text COLLATE \"C\"", KeyOrder.SourceExpression("code", PgType.BuiltIn(1043)));
        Assert.Equal("(l.origin_key->>'code') COLLATE \"C\"", KeyOrder.OriginKeyExpression("l", "code", PgType.BuiltIn(1043)));
        Assert.Equal("(l.origin_key->>'id')::bigint", KeyOrder.OriginKeyExpression("l", "id", PgType.BuiltIn(20)));
    }
}

public sealed class ReconcilerFileTests
{
    [Fact]
    public void the_repository_references_file_parses_with_every_reference()
    {
        var path = Path.Combine(RepoRoot(), "schemas", "target", "references.yaml");
        var refs = References.Load(path);
        Assert.True(refs.Count >= 50);
        var user = refs.Single(r => r.Name == "transactions_user");
        Assert.True(user.CrossDatabase);
        Assert.Equal("peeq_users", user.To.Database);
        Assert.Contains(refs, r => r.Array && r.Name == "inventory_items_associated_tags");
        Assert.Equal("profile_type = 'GROUP'", refs.Single(r => r.Name == "events_group").Where);
    }

    [Fact]
    public void a_broken_reference_says_where_and_what()
    {
        var e = Assert.Throws<ConfigurationException>(() => References.Parse("""
            references:
              - name: a
                from: { database: x, table: t, columns: [a, b] }
                to: { database: y, table: u, columns: [id] }
                colour: red
            """, "refs.yaml"));
        Assert.Contains("refs.yaml:2", e.Message);
        Assert.Contains("unknown key 'colour'", e.Message);
        Assert.Contains("must pair up", e.Message);
    }

    [Fact]
    public void the_repository_checks_file_names_configured_sources_and_targets()
    {
        var options = new PipelineOptions
        {
            Sources = new[] { "wallet", "transaction", "inventory" }.Select(n => new SourceOptions { Name = n, Target = "commerce" }).ToList(),
            Targets = [new TargetOptions { Name = "commerce" }],
        };
        var file = CheckFile.Load(Path.Combine(RepoRoot(), "reconcile", "checks.yaml"), options);
        Assert.Contains(file.Balances, b => b.Name == "wallet_balance_per_user");
        Assert.Contains(file.Balances, b => b.Source.Count == 2);
        Assert.Contains(file.Invariants, i => i.On.Any(q => q.Target is not null) && i.On.Any(q => q.Source is not null));
        Assert.All(file.Balances, b => Assert.True(b.Target.UnitValue == ExactDecimal.Parse("0.01") || b.Target.UnitValue == ExactDecimal.Parse("1")));

        options.Sources.RemoveAt(0);
        var e = Assert.Throws<ConfigurationException>(() => CheckFile.Load(Path.Combine(RepoRoot(), "reconcile", "checks.yaml"), options));
        Assert.Contains("'wallet' is not a configured source", e.Message);
    }

    [Fact]
    public void csv_quotes_what_needs_quoting_and_defuses_formulas()
    {
        Assert.Equal("\"a,b\"", CsvWriter.Escape("a,b"));
        Assert.Equal("\"say \"\"hi\"\"\"", CsvWriter.Escape("say \"hi\""));
        Assert.Equal("'=1+1", CsvWriter.Escape("=1+1"));
        Assert.Equal("-12.5", CsvWriter.Escape("-12.5"));
    }

    [Fact]
    public void html_report_escapes_data_and_carries_the_json_totals()
    {
        var report = new ReconciliationReport("r1", DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddSeconds(2), Verdict.Different,
            new ReportTotals(2, 1, 10, 11, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0), 1, [], [], [], [],
            [new RowDifference(DifferenceKind.Extra, DifferenceStatus.Different, "t", "public.x", """{"id":"<script>"}""", "s", "public.x", null, [], "x")],
            [], [], [], [], [], []);
        var html = HtmlReport.Render(report);
        Assert.DoesNotContain("<script>", html);
        Assert.Contains("&lt;script&gt;", html);
        Assert.Contains("data-total=\"differences\">1<", html);
        Assert.Contains("data-total=\"rows_in_target\">11<", html);
        Assert.Contains("data-verdict=\"different\"", html);
        Assert.DoesNotContain("http", html.Replace("http-equiv", "", StringComparison.Ordinal));
    }

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "Peeq.Cdc.sln")))
        {
            dir = Path.GetDirectoryName(dir)!;
        }

        return dir;
    }
}

public sealed class JsonbTextFromNodesTests
{
    /// <summary>The origin key of every source row is put in jsonb form from its nodes; it must equal the text path's result exactly.</summary>
    [Theory]
    [InlineData("""{"id": "8f14e45f-ceea-467a-9575-6c1d6f7b3b5a"}""")]
    [InlineData("""{"id": 42}""")]
    [InlineData("""{"b": 1, "aa": "x", "a": 2.50, "ab": null, "é": true, "z": false}""")]
    [InlineData("""{"k": "quote \" backslash \\ tab \t nl \n ctl \u0001 snow ☃ <tag>&"}""")]
    [InlineData("""{"n": 1e3, "m": -0.000, "big": 123456789012345678901234567890.1200}""")]
    [InlineData("""{"nested": {"b": [1, "two", {"y": 1, "x": 2}], "a": []}, "id": "1"}""")]
    [InlineData("""{}""")]
    public void equals_the_canonical_text_of_the_serialised_node(string json)
    {
        var parsed = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(json)!;
        var built = new System.Text.Json.Nodes.JsonObject();
        foreach (var (k, v) in parsed)
        {
            built[k] = v?.DeepClone();
        }

        Assert.True(JsonbText.TryCanonical(parsed.ToJsonString(), out var expected));
        Assert.Equal(expected, JsonbText.Canonical(parsed));
        Assert.Equal(expected, JsonbText.Canonical(built));
    }

    [Fact]
    public void values_created_in_code_are_written_as_their_json()
    {
        var o = new System.Text.Json.Nodes.JsonObject { ["id"] = 7, ["name"] = "Zoë", ["ok"] = true, ["price"] = 12.5m };
        Assert.True(JsonbText.TryCanonical(o.ToJsonString(), out var expected));
        Assert.Equal(expected, JsonbText.Canonical(o));
        Assert.Equal("""{"id": 7, "ok": true, "name": "Zoë", "price": 12.5}""", JsonbText.Canonical(o));
    }
}
