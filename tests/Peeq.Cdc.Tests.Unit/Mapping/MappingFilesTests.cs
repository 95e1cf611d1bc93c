using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping.Declarative;

namespace Peeq.Cdc.Tests.Unit.Mapping;

/// <summary>The shipped mapping files: each binds against the schema files, accounts for every legacy table, and docs/mappings.md is what they generate.</summary>
public sealed class MappingFilesTests
{
    private static readonly string Folder = Path.Combine(SchemaFiles.Root, "mappings");

    public static TheoryData<string> Files() => new(Directory.GetFiles(Folder, "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Theory]
    [MemberData(nameof(Files))]
    public void mapping_file_binds_against_the_schema_files_without_errors_or_unaccounted_columns(string name)
    {
        var file = MappingFile.Load(Path.Combine(Folder, name), "mappings/" + name);
        var catalog = SchemaFiles.CatalogFor(file);
        DeclarativeMapping.Bind(file.Target, file, catalog, out var check);
        Assert.Empty(check.Errors);
        Assert.Empty(check.Warnings);
    }

    [Fact]
    public void every_table_of_every_legacy_schema_is_mapped_or_excluded_exactly_once_across_the_files()
    {
        var files = MappingDoc.LoadFolder(Folder, "mappings");
        var accounted = files.SelectMany(f => f.SourceTables()).ToHashSet();
        var missing = new List<string>();
        foreach (var (source, path) in SchemaFiles.LegacyFiles)
        {
            foreach (var t in SchemaFiles.Tables(path))
            {
                if (!accounted.Contains((source, t.Id)))
                {
                    missing.Add($"{source}.{t.Id.Name}");
                }
            }
        }

        Assert.Empty(missing);
        Assert.Equal(22, files.SelectMany(f => f.Sources).Distinct().Count());
        Assert.Equal(files.SelectMany(f => f.Sources).Count(), files.SelectMany(f => f.Sources).Distinct().Count());
    }

    /// <summary>Every table the seed names for the 22 sources (read from the seed's "Core Tables" lists).</summary>
    private static readonly (string Source, string[] Tables)[] SeedTables =
    [
        ("celebrity", ["celebrity_profiles", "celebrity_profile_status_history", "celebrity_profile_image", "celebrity_profile_tags", "celebrity_profile_banners", "profile_short_links", "cameo_offer", "shoutout_offer"]),
        ("fan", ["fan_profiles", "fan_follows", "fan_follow_changes"]),
        ("group-profile", ["group_profiles", "profile_thumbnails", "group_profile_tags", "group_profile_celebs", "profile_tags_association", "profile_celebs_association"]),
        ("content", ["files"]),
        ("media", ["files", "files_price_history"]),
        ("shoutout", ["mux_stream"]),
        ("mux-livestream", ["mux_livestreams"]),
        ("stripe", ["exchange_rates"]),
        ("subscriptions", ["subscriptions", "series"]),
        ("wallet", ["balance_transaction", "create_transaction", "create_transaction_related_transactions"]),
        ("transaction", ["transactions"]),
        ("inventory", ["inventory_item", "inventory_item_price_history", "inventory_item_quantity_history", "inventory_item_state_history"]),
        ("broadcast", ["broadcasts"]),
        ("stream", ["streams"]),
        ("onsite-event", ["on_site_events", "user_event_checkins"]),
        ("class-catalog", ["classes", "class_thumbnails", "class_details", "class_associated_tags", "class_badges", "sessions", "session_instructors"]),
        ("notification-service", []),
        ("message-board", ["message_boards", "members", "messages"]),
        ("sse", ["groups", "members"]),
        ("tags", ["tags"]),
        ("encryption", ["vault_namespaces", "vault_secrets"]),
        ("dwolla", ["vault_namespaces", "vault_secrets"]),
    ];

    [Fact]
    public void every_table_the_seed_names_is_in_the_generated_page_with_its_destination_or_reason()
    {
        var page = File.ReadAllText(Path.Combine(SchemaFiles.Root, "docs", "mappings.md"));
        var files = MappingDoc.LoadFolder(Folder, "mappings");
        var accounted = files.SelectMany(f => f.SourceTables()).ToHashSet();
        Assert.Equal(22, SeedTables.Length);
        foreach (var (source, tables) in SeedTables)
        {
            foreach (var t in tables)
            {
                Assert.True(accounted.Contains((source, new TableId("public", t))), $"{source}.{t} is neither mapped nor excluded");
                Assert.Contains($"| {source} | {t} |", page, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void docs_mappings_md_is_what_the_mapping_files_generate()
    {
        var expected = MappingDoc.Generate(MappingDoc.LoadFolder(Folder, "mappings"));
        var committed = File.ReadAllText(Path.Combine(SchemaFiles.Root, "docs", "mappings.md")).Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.True(expected == committed, "docs/mappings.md is out of date: run `peeq-cdc mappings doc --out docs/mappings.md` (or ./dev mappings doc --out docs/mappings.md)");
    }

    [Fact]
    public void every_mapping_file_writes_down_where_the_seed_is_incomplete_and_the_page_shows_it()
    {
        var files = MappingDoc.LoadFolder(Folder, "mappings");
        var page = MappingDoc.Generate(files);
        Assert.Contains("## Where the seed is incomplete or contradicts itself", page, StringComparison.Ordinal);
        foreach (var f in files)
        {
            Assert.True(f.Decisions is { Count: > 0 }, $"{f.DisplayPath} has no decisions: entries");
            Assert.Contains($"### {f.Target}\n", page.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.All(f.Decisions!, d => Assert.Contains(d.Decision.ReplaceLineEndings(" "), page, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void a_decision_without_what_the_seed_says_and_what_the_mapping_does_is_an_error_with_its_position()
    {
        var e = Assert.Throws<MappingFileException>(() => MappingFile.Parse("""
            target: t
            sources: [a]
            decisions:
              - {seed: "The seed leaves the key open.", decision: "tbd"}
              - {decision: "The mapping derives a UUID from the key."}
            """, "m.yaml", "m.yaml"));
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:4:", StringComparison.Ordinal) && p.Contains("a sentence each"));
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:5:", StringComparison.Ordinal) && p.Contains("seed"));
    }
}
