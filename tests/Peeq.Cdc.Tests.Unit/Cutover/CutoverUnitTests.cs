using System.Text.Json.Nodes;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Cutover;
using Peeq.Cdc.Cutover.ForeignKeys;
using Peeq.Cdc.Cutover.Progress;
using Peeq.Cdc.Cutover.Reports;

namespace Peeq.Cdc.Tests.Unit.Cutover;

public sealed class CutoverUnitTests
{
    [Theory]
    [InlineData("peeq_users", 7)]
    [InlineData("peeq_commerce", 6)]
    [InlineData("peeq_media", 0)]
    [InlineData("peeq_events", 7)]
    [InlineData("peeq_platform", 4)]
    [InlineData("peeq_encryption", 0)]
    public void every_built_in_foreign_keys_file_parses_into_add_constraint_statements(string database, int atLeast)
    {
        var (statements, from) = ForeignKeyFile.Builtin(database);
        Assert.Contains("built in", from, StringComparison.Ordinal);
        Assert.True(statements.Count >= atLeast, $"{database}: {statements.Count} statements");
        Assert.All(statements, s => Assert.StartsWith("FOREIGN KEY", s.Definition, StringComparison.Ordinal));
        Assert.Equal(statements.Count, statements.Select(s => s.Name).Distinct().Count());
    }

    [Fact]
    public void every_reference_that_names_a_constraint_finds_it_in_its_database_file()
    {
        // Resolve checks it for each domain: a reference naming a constraint its file does not add is a configuration error.
        foreach (var database in new[] { "peeq_users", "peeq_commerce", "peeq_media", "peeq_events", "peeq_platform", "peeq_encryption" })
        {
            var options = new PipelineOptions
            {
                Sources = [new SourceOptions { Name = "s", ConnectionString = "Host=h;Database=legacy", Target = "t", Tables = ["x"] }],
                Targets = [new TargetOptions { Name = "t", ConnectionString = $"Host=h;Database={database}" }],
            };
            var domain = CutoverDomain.Resolve(new PipelineConfig(options, null), "t", null);
            Assert.Equal(database, domain.Database);
            Assert.All(domain.Enforced, r => Assert.Contains(domain.ForeignKeys, f => f.Name == r.ForeignKey));
        }
    }

    [Fact]
    public void statements_span_lines_and_comments_and_keep_not_valid_for_kept_rows()
    {
        var statements = ForeignKeyFile.Parse("""
            -- a comment; with a semicolon
            ALTER TABLE follows ADD CONSTRAINT fk_follows_profile   -- trailing comment
                FOREIGN KEY (profile_id) REFERENCES profiles(id) ON DELETE CASCADE;
            """, "test.sql");
        var s = Assert.Single(statements);
        Assert.Equal("follows", s.Table);
        Assert.Equal("fk_follows_profile", s.Name);
        Assert.Equal(2, s.Line);
        Assert.Equal("ALTER TABLE follows ADD CONSTRAINT fk_follows_profile FOREIGN KEY (profile_id) REFERENCES profiles(id) ON DELETE CASCADE NOT VALID", s.Sql(notValid: true));
    }

    [Fact]
    public void a_statement_that_is_not_an_added_foreign_key_is_rejected_with_its_line()
    {
        var e = Assert.Throws<ConfigurationException>(() => ForeignKeyFile.Parse("\nDROP TABLE profiles;\n", "bad.sql"));
        Assert.Contains("bad.sql:2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void an_unknown_domain_or_one_without_sources_is_a_configuration_error()
    {
        var options = new PipelineOptions { Targets = [new TargetOptions { Name = "users", ConnectionString = "Host=h;Database=peeq_users" }] };
        Assert.Throws<ConfigurationException>(() => CutoverDomain.Resolve(new PipelineConfig(options, null), "media", null));
        Assert.Throws<ConfigurationException>(() => CutoverDomain.Resolve(new PipelineConfig(options, null), "users", null));
    }

    [Fact]
    public void report_digest_covers_every_field_but_itself_and_the_html_escapes_values()
    {
        var report = new JsonObject
        {
            ["domain"] = "users",
            ["database"] = "peeq_users",
            ["sources"] = new JsonArray("fan"),
            ["state"] = "done",
            ["signedOffBy"] = "<script>",
            ["steps"] = new JsonObject { ["fence"] = new JsonObject { ["state"] = "done", ["detail"] = new JsonObject { ["sources"] = CutoverProgress.ToJsonArray(new[] { new { source = "fan", fenceLsn = "0/10" } }) } } },
        };
        report["digest"] = CutoverReport.Digest(report);
        var digest = (string?)report["digest"];
        Assert.Equal(digest, CutoverReport.Digest(report));
        report["signedOffBy"] = "someone else";
        Assert.NotEqual(digest, CutoverReport.Digest(report));
        report["signedOffBy"] = "<script>";
        var html = CutoverReport.RenderHtml(report);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Contains("0/10", html, StringComparison.Ordinal);
    }
}
