using System.Text.Json.Nodes;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Cutover;
using Peeq.Cdc.Cutover.Fencing;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Cutover;

/// <summary>
/// Cutover of a small users-like domain: two legacy databases (celebrity profiles, fan follows) consolidated into one
/// target, with legacy orphans (follows of profiles that do not exist) that the target's foreign key would reject.
/// </summary>
public sealed class CutoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private const string Profiles = """
        CREATE TABLE profiles (id bigserial PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
        """;

    private const string Follows = """
        CREATE TABLE follows (id bigserial PRIMARY KEY, fan text NOT NULL, profile_id bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
        """;

    private sealed record World(string Celebs, string Fans, string Target, string Role, PipelineOptions Options, string ConfigFile, long[] Orphans);

    private static string As(string cs, string user) => new NpgsqlConnectionStringBuilder(cs) { Username = user }.ConnectionString;

    private async Task<World> CreateWorldAsync(string name)
    {
        var celebs = await SharedPostgres.CreateDatabaseAsync($"{name}_celebs");
        var fans = await SharedPostgres.CreateDatabaseAsync($"{name}_fans");
        var target = await SharedPostgres.CreateDatabaseAsync($"{name}_users");
        var role = $"svc_{name}";
        await SharedPostgres.ExecuteAsync(celebs, $"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;");
        var grants = $"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};";
        await SharedPostgres.ExecuteAsync(celebs, Profiles + """
            INSERT INTO profiles (name) SELECT 'celebrity ' || g FROM generate_series(1, 50) g;
            """ + grants);
        await SharedPostgres.ExecuteAsync(fans, Follows + """
            INSERT INTO follows (fan, profile_id) SELECT 'fan ' || g, 1 + g % 50 FROM generate_series(1, 200) g;
            -- Legacy orphans: follows of profiles that never existed (no constraint across the two legacy databases).
            INSERT INTO follows (fan, profile_id) VALUES ('orphan a', 9001), ('orphan b', 9002), ('orphan c', 9003);
            """ + grants);
        // The target: the consolidated tables, read-only for the services until cutover; no foreign key while syncing.
        await SharedPostgres.ExecuteAsync(target, Profiles + Follows + $"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};");
        var orphans = new List<long>();
        await using (var conn = new NpgsqlConnection(fans))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id FROM follows WHERE profile_id > 9000 ORDER BY id", conn);
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                orphans.Add(r.GetInt64(0));
            }
        }

        var database = $"{name}_users";
        var references = Path.Combine(Path.GetTempPath(), $"cutover-refs-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(references, $$"""
            references:
              - name: follows_profile
                from: { database: {{database}}, table: follows, columns: [profile_id] }
                to:   { database: {{database}}, table: profiles, columns: [id] }
                foreignKey: fk_follows_profile
            """);
        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = _kafka.BootstrapServers, TopicPrefix = $"t-{name}" },
            Sources =
            [
                new SourceOptions { Name = $"{name}-celebs", ConnectionString = celebs, Target = "users", Tables = ["profiles"] },
                new SourceOptions { Name = $"{name}-fans", ConnectionString = fans, Target = "users", Tables = ["follows"] },
            ],
            Targets = [new TargetOptions { Name = "users", ConnectionString = target }],
            Capture = new CaptureOptions
            {
                HeartbeatInterval = TimeSpan.FromMilliseconds(500),
                AckInterval = TimeSpan.FromMilliseconds(100),
                RetryDelay = TimeSpan.FromMilliseconds(200),
                MaxRetryDelay = TimeSpan.FromSeconds(2),
            },
            Sink = new SinkOptions { RetryDelay = TimeSpan.FromMilliseconds(200), MaxRetryDelay = TimeSpan.FromSeconds(2) },
            Http = new HttpOptions { Urls = "" },
            Reconcile = new ReconcileOptions { References = references, RecheckRounds = 2, RecheckDelay = TimeSpan.FromMilliseconds(300), WatermarkWait = TimeSpan.FromSeconds(60) },
        };
        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"cutover-{name}-{Guid.NewGuid():N}.yaml"));
        return new World(celebs, fans, target, role, options, config, [.. orphans]);
    }

    private static string ForeignKeysFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cutover-fks-{Guid.NewGuid():N}.sql");
        File.WriteAllText(path, """
            -- A follow needs its profile.
            ALTER TABLE follows ADD CONSTRAINT fk_follows_profile
                FOREIGN KEY (profile_id) REFERENCES profiles(id) ON DELETE CASCADE;
            """);
        return path;
    }

    /// <summary>What the legacy services write: new profiles, renames, follows of existing profiles, unfollows. Counts rejected writes.</summary>
    private static async Task<(long Done, long Rejected)> ServicesAsync(World w, int seed, CancellationToken ct)
    {
        var random = new Random(seed);
        long done = 0, rejected = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var celebs = new NpgsqlConnection(As(w.Celebs, w.Role));
                await using var fans = new NpgsqlConnection(As(w.Fans, w.Role));
                await celebs.OpenAsync(CancellationToken.None);
                await fans.OpenAsync(CancellationToken.None);
                while (!ct.IsCancellationRequested)
                {
                    await using (var c = new NpgsqlCommand(random.Next(3) == 0
                        ? "INSERT INTO profiles (name) VALUES ('new celebrity')"
                        : "UPDATE profiles SET name = name || '.', updated_at = now() WHERE id = @id", celebs))
                    {
                        c.Parameters.AddWithValue("id", (long)random.Next(1, 51));
                        await c.ExecuteNonQueryAsync(CancellationToken.None);
                    }

                    await using (var f = new NpgsqlCommand(random.Next(4) == 0
                        ? "DELETE FROM follows WHERE id = (SELECT min(id) FROM follows WHERE profile_id = @p)"
                        : "INSERT INTO follows (fan, profile_id) VALUES ('fan', @p)", fans))
                    {
                        f.Parameters.AddWithValue("p", (long)random.Next(1, 51));
                        await f.ExecuteNonQueryAsync(CancellationToken.None);
                    }

                    done++;
                    await Task.Delay(25, CancellationToken.None);
                }
            }
            catch (Exception e) when (e is NpgsqlException)
            {
                rejected++;
                try
                {
                    await Task.Delay(100, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        return (done, rejected);
    }

    private CutoverDomain Domain(World w, string fks) => CutoverDomain.Resolve(PipelineConfig.FromOptions(w.Options), "users", fks);

    private static IReadOnlyDictionary<string, Transform.Mapping.ITargetMapping> MappingsOf(World w) => Mappings.Load(PipelineConfig.FromOptions(w.Options));

    private Microsoft.Extensions.Logging.ILogger Logger(string name) =>
        new TestOutputLoggerProvider(output, Microsoft.Extensions.Logging.LogLevel.Information).CreateLogger(name);

    private async Task<CheckResult> CheckAsync(World w, string fks, string label)
    {
        var result = await new CutoverCheck(Domain(w, fks), MappingsOf(w), Logger("check")) { LagWait = TimeSpan.FromSeconds(20) }
            .RunAsync(Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"{label}-{Guid.NewGuid():N}"), CancellationToken.None);
        output.WriteLine($"check {label}: {(result.Go ? "GO" : "NO-GO")}");
        foreach (var r in result.Reasons)
        {
            output.WriteLine($"  {r.Kind}: {r.Message}");
        }

        return result;
    }

    private async Task<int> DecideAsync(World w, string fks, long followId, string action, string? placeholder = null)
    {
        string[] args = ["cutover", "decide", "--config", w.ConfigFile, "--domain", "users", "--foreign-keys", fks, "--reference", "follows_profile",
            "--key", followId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--action", action, "--by", "test operator"];
        return await Cli.Program.Main(placeholder is null ? args : [.. args, "--placeholder", placeholder]);
    }

    private static async Task<string?> ErrorOfAsync(string cs, string sql)
    {
        // The fence ends the sessions of the source databases, idle pooled ones included.
        NpgsqlConnection.ClearAllPools();
        try
        {
            // One statement at a time on one session: a batch is one implicit transaction, read-only from its start.
            await using var conn = new NpgsqlConnection(cs);
            await conn.OpenAsync();
            foreach (var statement in sql.Split(";;"))
            {
                await using var cmd = new NpgsqlCommand(statement, conn);
                await cmd.ExecuteNonQueryAsync();
            }

            return null;
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
    }

    private static Task<long> MaxAsync(string cs, string table) => SharedPostgres.ScalarAsync<long>(cs, $"SELECT max(id) FROM {table}");

    /// <summary>What every finished cutover of this world must show, however it got there.</summary>
    private async Task AssertCutOverAsync(World w, CutoverOutcome outcome, ReconciliationReport before, bool keptOrphan)
    {
        Assert.True(outcome.Done, outcome.Message);
        // Legacy rejects writes: read-only for every new session, and the service role lost its privileges.
        Assert.Equal("25006", await ErrorOfAsync(w.Celebs, "INSERT INTO profiles (name) VALUES ('after cutover')"));
        Assert.Equal("25006", await ErrorOfAsync(w.Fans, "INSERT INTO follows (fan, profile_id) VALUES ('after cutover', 1)"));
        // A service that turns read-only off for itself still cannot write: the grant switch is the hard fence.
        Assert.Equal("42501", await ErrorOfAsync(As(w.Fans, w.Role), "SET default_transaction_read_only = off;; INSERT INTO follows (fan, profile_id) VALUES ('after cutover', 1)"));
        Assert.False(await SharedPostgres.ScalarAsync<bool>(w.Celebs, $"SELECT has_table_privilege('{w.Role}', 'profiles', 'INSERT')"));

        // The target accepts the services' writes; its sequences continue past every replicated key.
        var maxProfile = await MaxAsync(w.Target, "profiles");
        var maxFollow = await MaxAsync(w.Target, "follows");
        var newProfile = await SharedPostgres.ScalarAsync<long>(As(w.Target, w.Role), "INSERT INTO profiles (name) VALUES ('first after cutover') RETURNING id");
        var newFollow = await SharedPostgres.ScalarAsync<long>(As(w.Target, w.Role), $"INSERT INTO follows (fan, profile_id) VALUES ('first after cutover', {newProfile}) RETURNING id");
        Assert.True(newProfile > maxProfile, $"profile id {newProfile} collides with replicated ids up to {maxProfile}");
        Assert.True(newFollow > maxFollow, $"follow id {newFollow} collides with replicated ids up to {maxFollow}");

        // The foreign key is there and enforced; valid unless a row was kept by decision.
        Assert.Equal(!keptOrphan, await SharedPostgres.ScalarAsync<bool>(w.Target, "SELECT convalidated FROM pg_constraint WHERE conname = 'fk_follows_profile'"));
        Assert.Equal("23503", await ErrorOfAsync(As(w.Target, w.Role), "INSERT INTO follows (fan, profile_id) VALUES ('dangling', 987654)"));

        // The report's totals are those of a reconciliation run just before the cutover.
        var report = JsonNode.Parse(await File.ReadAllTextAsync(outcome.ReportJson!))!.AsObject();
        Assert.True(File.Exists(outcome.ReportHtml));
        Assert.Equal("done", (string?)report["state"]);
        var totals = report["reconciliation"]!["totals"]!;
        Assert.Equal(before.Totals.RowsExpected, (long)totals["rowsExpected"]!);
        Assert.Equal(before.Totals.RowsInTarget, (long)totals["rowsInTarget"]!);
        Assert.Equal(before.Totals.TablePairs, (int)totals["tablePairs"]!);
        Assert.Equal(0, (long)totals["differences"]!);
        foreach (var t in before.TableTotals)
        {
            var row = report["reconciliation"]!["tables"]!.AsArray().Single(x => (string?)x!["targetTable"] == t.TargetTable);
            Assert.Equal(t.TotalRows, (long)row!["totalRows"]!);
            Assert.Equal(t.ExpectedRows, (long)row["expectedRows"]!);
        }

        Assert.Equal(CutoverRunner.Steps.Length, report["steps"]!.AsObject().Count);
        Assert.All(report["steps"]!.AsObject(), s => Assert.Equal("done", (string?)s.Value!["state"]));
        Assert.Equal(Peeq.Cdc.Cutover.Reports.CutoverReport.Digest(report), (string?)report["digest"]);
    }

    [Fact]
    public async Task users_domain_is_cut_over_during_a_live_workload_only_once_check_says_go()
    {
        var w = await CreateWorldAsync("cut_live");
        var fks = ForeignKeysFile();
        await using var pipeline = new PipelineHarness(w.Options, _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();

        using var stop = new CancellationTokenSource();
        var services = Task.Run(() => ServicesAsync(w, 1, stop.Token));
        await Task.Delay(1000);

        // While the services write: no-go, for the writes and for the undecided orphans (every reason at once).
        var busy = await CheckAsync(w, fks, "busy");
        Assert.False(busy.Go);
        Assert.Contains(busy.Reasons, r => r.Kind == "writes");
        Assert.Contains(busy.Reasons, r => r.Kind == "dangling" && r.Message.Contains("3 of 3", StringComparison.Ordinal));
        // run refuses too, before touching any source.
        var refused = await new CutoverRunner(Domain(w, fks), MappingsOf(w), new CutoverRunOptions { Out = Path.GetTempFileName() + ".d" }, Logger("run")).RunAsync(CancellationToken.None);
        Assert.False(refused.Done);
        await using (var conn = new NpgsqlConnection(w.Fans))
        {
            await conn.OpenAsync();
            Assert.Null(await SourceFence.ReadSettingAsync(conn, conn.Database, CancellationToken.None));
        }

        stop.Cancel();
        var (done, _) = await services;
        output.WriteLine($"services wrote {done} pairs of transactions");
        await pipeline.DrainAsync();

        // Stopped writes, orphans still undecided: no-go for the orphans only.
        var undecided = await CheckAsync(w, fks, "undecided");
        Assert.False(undecided.Go);
        Assert.All(undecided.Reasons, r => Assert.Equal("dangling", r.Kind));

        // The plan shows what blocks and what run will change.
        var plan = await CutoverPlan.BuildAsync(Domain(w, fks), [w.Role], servicesStopped: false, CancellationToken.None);
        foreach (var line in plan)
        {
            output.WriteLine(line);
        }

        Assert.Contains(plan, l => l.Contains("3 undecided (BLOCKS)", StringComparison.Ordinal));
        Assert.Contains(plan, l => l.Contains("profiles_id_seq", StringComparison.Ordinal) && l.Contains("setval", StringComparison.Ordinal));
        Assert.Contains(plan, l => l.Contains("REVOKE INSERT", StringComparison.Ordinal) && l.Contains(w.Role, StringComparison.Ordinal));
        Assert.Contains(plan, l => l.Contains("fk_follows_profile on follows: to add", StringComparison.Ordinal));
        Assert.Equal(0, await Cli.Program.Main(["cutover", "plan", "--config", w.ConfigFile, "--domain", "users", "--foreign-keys", fks, "--service-role", w.Role]));

        Assert.Equal(0, await DecideAsync(w, fks, w.Orphans[0], "delete"));
        Assert.Equal(0, await DecideAsync(w, fks, w.Orphans[1], "placeholder", "1"));
        Assert.NotEqual(0, await DecideAsync(w, fks, w.Orphans[2], "placeholder", "424242"));   // no such parent: refused
        Assert.Equal(0, await DecideAsync(w, fks, w.Orphans[2], "delete"));
        var decided = await CheckAsync(w, fks, "decided");
        Assert.True(decided.Go, string.Join("; ", decided.Reasons.Select(r => r.Message)));

        var before = await ReconcileRunner.RunAsync(Domain(w, fks).DomainConfig, MappingsOf(w), Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"before-{Guid.NewGuid():N}"),
            Logger("reconcile"), CancellationToken.None);
        Assert.Equal(Verdict.Clean, before.Verdict);

        // A service session holding an open write transaction when the fence comes: ended, its write rolled back.
        await using var holder = new NpgsqlConnection(As(w.Fans, w.Role));
        await holder.OpenAsync();
        var open = await holder.BeginTransactionAsync();
        await using (var cmd = new NpgsqlCommand("INSERT INTO follows (fan, profile_id) VALUES ('never committed', 1)", holder, open))
        {
            await cmd.ExecuteNonQueryAsync();
        }

        var outDir = Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"run-{Guid.NewGuid():N}");
        var outcome = await new CutoverRunner(Domain(w, fks), MappingsOf(w),
            new CutoverRunOptions { ServiceRoles = [w.Role], FenceWait = TimeSpan.FromSeconds(2), DrainTimeout = TimeSpan.FromSeconds(90), Out = outDir, By = "finance lead" },
            Logger("run")).RunAsync(CancellationToken.None);
        output.WriteLine($"run: {outcome.State}: {outcome.Message}");
        NpgsqlConnection.ClearAllPools();
        await Assert.ThrowsAnyAsync<Exception>(() => open.CommitAsync());
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(w.Fans, "SELECT count(*) FROM follows WHERE fan = 'never committed'"));

        await AssertCutOverAsync(w, outcome, before, keptOrphan: false);
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(w.Target, $"SELECT count(*) FROM follows WHERE id IN ({w.Orphans[0]}, {w.Orphans[2]})"));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(w.Target, $"SELECT profile_id FROM follows WHERE id = {w.Orphans[1]}"));
        Assert.Contains("finance lead", await File.ReadAllTextAsync(outcome.ReportHtml!), StringComparison.Ordinal);

        // Once done, check says so and refuses; run again only writes the report again.
        var after = await CheckAsync(w, fks, "after");
        Assert.False(after.Go);
        Assert.Contains(after.Reasons, r => r.Kind == "state");
    }

    [Fact]
    public async Task interrupted_run_resumes_after_every_step_and_a_failure_before_the_grant_switch_unfences()
    {
        var w = await CreateWorldAsync("cut_resume");
        var fks = ForeignKeysFile();
        await using var pipeline = new PipelineHarness(w.Options, _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();
        Assert.Equal(0, await DecideAsync(w, fks, w.Orphans[0], "keep"));
        Assert.Equal(0, await DecideAsync(w, fks, w.Orphans[1], "delete"));
        Assert.Equal(0, await DecideAsync(w, fks, w.Orphans[2], "placeholder", "2"));
        var outDir = Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"resume-{Guid.NewGuid():N}");
        CutoverRunner Runner(FailurePoint? inject) => new(Domain(w, fks), MappingsOf(w),
            new CutoverRunOptions { ServiceRoles = [w.Role], FenceWait = TimeSpan.FromSeconds(2), DrainTimeout = TimeSpan.FromSeconds(90), Out = outDir, By = "ops", Inject = inject },
            Logger("run"));

        // A failure before the grant switch: the sources are unfenced, exactly as they were, and take writes again.
        var failed = await Runner(new FailurePoint("sequences", Crash: false)).RunAsync(CancellationToken.None);
        Assert.False(failed.Done);
        Assert.Equal("rolled_back", failed.State);
        NpgsqlConnection.ClearAllPools();
        Assert.Null(await ErrorOfAsync(As(w.Celebs, w.Role), "INSERT INTO profiles (name) VALUES ('after the rollback')"));
        Assert.Null(await ErrorOfAsync(As(w.Fans, w.Role), "INSERT INTO follows (fan, profile_id) VALUES ('after the rollback', 3)"));
        await using (var conn = new NpgsqlConnection(w.Celebs))
        {
            await conn.OpenAsync();
            Assert.Null(await SourceFence.ReadSettingAsync(conn, conn.Database, CancellationToken.None));
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(w.Target, "SELECT count(*) FROM pg_constraint WHERE conname = 'fk_follows_profile'"));
        await pipeline.DrainAsync();
        var before = await ReconcileRunner.RunAsync(Domain(w, fks).DomainConfig, MappingsOf(w), Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"before-{Guid.NewGuid():N}"),
            Logger("reconcile"), CancellationToken.None);
        output.WriteLine($"before: {before.Summary}");

        // Killed after each step in turn: every start resumes where the last one stopped.
        foreach (var step in CutoverRunner.Steps)
        {
            await Assert.ThrowsAsync<SimulatedCrashException>(() => Runner(new FailurePoint(step, Crash: true)).RunAsync(CancellationToken.None));
            output.WriteLine($"crashed after {step}");
            NpgsqlConnection.ClearAllPools();
            // Whatever step it died after, the sources stay fenced.
            Assert.Equal("25006", await ErrorOfAsync(w.Celebs, "INSERT INTO profiles (name) VALUES ('while interrupted')"));
        }

        var outcome = await Runner(null).RunAsync(CancellationToken.None);
        NpgsqlConnection.ClearAllPools();
        await AssertCutOverAsync(w, outcome, before, keptOrphan: true);
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(w.Target, $"SELECT count(*) FROM follows WHERE id = {w.Orphans[0]} AND profile_id = 9001"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(w.Target, $"SELECT profile_id FROM follows WHERE id = {w.Orphans[2]}"));
    }
    [Fact]
    public async Task run_killed_with_sigkill_while_draining_resumes_in_a_new_process()
    {
        var w = await CreateWorldAsync("cut_kill");
        var fks = ForeignKeysFile();
        await using var pipeline = new PipelineHarness(w.Options, _kafka, output);
        await pipeline.StartAsync(Stages.Capture | Stages.Transform);
        await pipeline.StartAsync(Stages.Sink);
        await pipeline.DrainAsync();
        foreach (var orphan in w.Orphans)
        {
            Assert.Equal(0, await DecideAsync(w, fks, orphan, "delete"));
        }

        // With the Sink stopped the drain cannot finish: the cutover process is killed while it waits, after the fence.
        await pipeline.StopAsync(Stages.Sink);
        var outDir = Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"kill-{Guid.NewGuid():N}");
        string[] args = ["cutover", "run", "--config", w.ConfigFile, "--domain", "users", "--foreign-keys", fks, "--service-role", w.Role,
            "--fence-wait", "00:00:02", "--drain-timeout", "00:05:00", "--out", outDir, "--by", "ops on call", "--log-level", "Information"];
        await using (var first = PipelineProcess.Start(output, args))
        {
            await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(w.Target,
                "SELECT count(*) FROM peeq_cdc.cutover_steps WHERE domain = 'users' AND step = 'fence' AND state = 'done'") == 1, "the fence", 120);
            first.Kill9();
        }

        Assert.Equal("25006", await ErrorOfAsync(w.Celebs, "INSERT INTO profiles (name) VALUES ('while killed')"));
        Assert.Equal("running", await SharedPostgres.ScalarAsync<string>(w.Target, "SELECT state FROM peeq_cdc.cutover_runs WHERE domain = 'users'"));

        await pipeline.StartAsync(Stages.Sink);
        await pipeline.DrainAsync();
        var before = await ReconcileRunner.RunAsync(Domain(w, fks).DomainConfig, MappingsOf(w), Path.Combine(Path.GetTempPath(), "peeq-cutover-tests", $"before-{Guid.NewGuid():N}"),
            Logger("reconcile"), CancellationToken.None);
        Assert.Equal(Verdict.Clean, before.Verdict);

        // The second process is given no roles: it resumes with what the killed run was started with.
        string[] resume = ["cutover", "run", "--config", w.ConfigFile, "--domain", "users", "--foreign-keys", fks, "--out", outDir, "--by", "ops on call"];
        var (code, text, _) = await PipelineProcess.RunAsync(TimeSpan.FromMinutes(4), resume);
        output.WriteLine(text);
        Assert.Equal(0, code);
        await AssertCutOverAsync(w, new CutoverOutcome(true, "done", text, Path.Combine(outDir, "cutover.json"), Path.Combine(outDir, "cutover.html")), before, keptOrphan: false);
    }
}
