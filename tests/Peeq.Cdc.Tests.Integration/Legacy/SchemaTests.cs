using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Legacy;

/// <summary>Every schema in schemas/ applies cleanly to an empty PostgreSQL 15 database of its own.</summary>
public sealed class SchemaTests
{
    private static List<string> LegacyFileNames() =>
        Directory.GetFiles(RepoFiles.Path("schemas", "legacy"), "*.sql").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();

    private static List<string> TargetDatabaseNames() =>
        Directory.GetFiles(RepoFiles.Path("schemas", "target"), "peeq_*.sql")
            .Select(f => Path.GetFileNameWithoutExtension(f))
            .Where(n => !n.EndsWith(".foreign-keys", StringComparison.Ordinal) && n != "peeq_cdc")
            .Order(StringComparer.Ordinal)
            .ToList();

    public static TheoryData<string> LegacyFiles() => new(LegacyFileNames());

    public static TheoryData<string> TargetDatabases() => new(TargetDatabaseNames());

    [Theory]
    [MemberData(nameof(LegacyFiles))]
    public async Task legacy_schema_applies_to_an_empty_database(string file)
    {
        var cs = await SharedPostgres.CreateDatabaseAsync("schema_legacy_" + Path.GetFileNameWithoutExtension(file).Replace('-', '_'));
        await SharedPostgres.ExecuteAsync(cs, await File.ReadAllTextAsync(RepoFiles.Path("schemas", "legacy", file)));
        var tables = await SharedPostgres.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
        Assert.True(tables > 0, $"{file} created no table");
        // The embedded copy seed-data uses is the committed file.
        var key = Path.GetFileNameWithoutExtension(file);
        Assert.Equal(await File.ReadAllTextAsync(RepoFiles.Path("schemas", "legacy", file)), Workload.LegacyCatalog.Get(key).Schema);
        Assert.Equal(tables, Workload.LegacyCatalog.Get(key).Tables.Count);
    }

    [Theory]
    [MemberData(nameof(TargetDatabases))]
    public async Task target_schema_pipeline_schema_and_foreign_keys_apply_to_an_empty_database(string database)
    {
        var cs = await SharedPostgres.CreateDatabaseAsync("schema_target_" + database);
        await SharedPostgres.ExecuteAsync(cs, await File.ReadAllTextAsync(RepoFiles.Path("schemas", "target", database + ".sql")));
        await SharedPostgres.ExecuteAsync(cs, await File.ReadAllTextAsync(RepoFiles.Path("schemas", "target", "peeq_cdc.sql")));
        // The foreign keys go on at cutover, after the target schema; on an empty database every one validates.
        await SharedPostgres.ExecuteAsync(cs, await File.ReadAllTextAsync(RepoFiles.Path("schemas", "target", database + ".foreign-keys.sql")));
        Assert.True(await SharedPostgres.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") > 0);
        Assert.True(await SharedPostgres.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_tables WHERE schemaname = 'peeq_cdc'") > 0);
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"));
    }

    [Fact]
    public void there_are_22_legacy_databases_and_6_targets()
    {
        Assert.Equal(22, LegacyFileNames().Count);
        Assert.Equal(22, Workload.LegacyCatalog.Databases.Count);
        Assert.Equal(6, TargetDatabaseNames().Count);
        Assert.Equal(TargetDatabaseNames(),
            Workload.LegacyCatalog.Databases.Select(d => d.TargetDatabase).Distinct().Order(StringComparer.Ordinal));
    }
}
