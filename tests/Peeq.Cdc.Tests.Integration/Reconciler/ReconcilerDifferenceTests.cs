using System.Text.Json;
using System.Text.RegularExpressions;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Reconciler;

/// <summary>Every kind of difference is found and located to its key, and a clean pipeline reconciles clean.</summary>
public sealed partial class ReconcilerDifferenceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    /// <summary>Where the last run wrote its reports.</summary>
    private string _lastDirectory = "";

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private async Task<ReconciliationReport> ReconcileAsync(PipelineOptions options, string name)
    {
        var config = PipelineConfig.FromOptions(options);
        var dir = Path.Combine(Path.GetTempPath(), "peeq-reconcile-tests", name + "-" + Guid.NewGuid().ToString("N")[..6]);
        _lastDirectory = dir;
        var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), dir, new TestOutputLoggerProvider(output, Microsoft.Extensions.Logging.LogLevel.Information).CreateLogger("reconcile"), CancellationToken.None);
        output.WriteLine(report.Summary);
        foreach (var d in report.Differences)
        {
            output.WriteLine($"  {d.Status} {d.Kind} {d.TargetTable} {d.Key} {string.Join("; ", d.Columns.Select(c => $"{c.Column}: {c.Expected} -> {c.Actual}"))} ({d.Note})");
        }

        foreach (var e in report.Errors)
        {
            output.WriteLine($"  ERROR {e}");
        }

        return report;
    }

    [Fact]
    public async Task every_kind_of_difference_is_found_and_located_to_its_key()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("rec_diff_src");
        var target = await SharedPostgres.CreateDatabaseAsync("rec_diff_dst");
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema + """
            CREATE TABLE wallets (id bigint PRIMARY KEY, user_id uuid NOT NULL, balance numeric(19,4) NOT NULL, currency varchar(3) NOT NULL);
            INSERT INTO wallets SELECT g, md5(g::text)::uuid, (g * 10.25)::numeric(19,4), 'USD' FROM generate_series(1, 300) g;
            """);
        await MixedWorkload.RunAsync(source, 3000, seed: 7);
        var options = PipelineHarness.Identity("recdiff", source, target, _kafka.BootstrapServers, [.. MixedWorkload.Tables, "public.wallets"]);
        await using (var pipeline = new PipelineHarness(options, _kafka, output))
        {
            await pipeline.StartAsync();
            await pipeline.DrainAsync();

            var clean = await ReconcileAsync(options, "clean");
            Assert.Equal(Verdict.Clean, clean.Verdict);
            Assert.Equal(0, clean.Totals.Differences);
            Assert.All(clean.Counts, c => Assert.Equal(c.SourceRows, c.TargetRows));
            Assert.True(clean.Totals.RowsExpected > 1000);
            Assert.All(clean.Checksums, c => Assert.Equal(c.ExpectedDigest, c.TargetDigest));

            // Discrepancies written straight into the target, behind the pipeline's back.
            var missing = await SharedPostgres.ScalarAsync<long>(target, "SELECT min(id) FROM accounts");
            var changed = await SharedPostgres.ScalarAsync<long>(target, "SELECT max(id) FROM accounts");
            await SharedPostgres.ExecuteAsync(target, $"""
                DELETE FROM accounts WHERE id = {missing};
                UPDATE accounts SET note = 'tampered', tags = '{"{x,y}"}' WHERE id = {changed};
                UPDATE wallets SET balance = balance + 0.01 WHERE id = 17;
                INSERT INTO wallets VALUES (9999, '00000000-0000-0000-0000-000000009999', 1, 'USD');
                """);

            var report = await ReconcileAsync(options, "tampered");
            Assert.Equal(Verdict.Different, report.Verdict);
            var real = report.Differences.Where(d => d.Status == DifferenceStatus.Different).ToList();
            Assert.Contains(real, d => d.Kind == DifferenceKind.Missing && d.TargetTable == "public.accounts" && d.Key == $$"""{"id":"{{missing}}"}""");
            var c = Assert.Single(real, d => d.Kind == DifferenceKind.Changed && d.TargetTable == "public.accounts");
            Assert.Equal($$"""{"id":"{{changed}}"}""", c.Key);
            Assert.Contains(c.Columns, x => x.Column == "note" && x.Actual == "tampered");
            Assert.Contains(c.Columns, x => x.Column == "tags" && x.Actual == "{x,y}");
            var cent = Assert.Single(real, d => d.Kind == DifferenceKind.Changed && d.TargetTable == "public.wallets");
            Assert.Equal("""{"id":"17"}""", cent.Key);
            var balance = Assert.Single(cent.Columns);
            Assert.Equal("balance", balance.Column);
            Assert.Equal("174.2500", balance.Expected);
            Assert.Equal("174.2600", balance.Actual);
            var extra = Assert.Single(real, d => d.Kind == DifferenceKind.Extra && d.TargetTable == "public.wallets");
            Assert.Equal("""{"id":"9999"}""", extra.Key);
            Assert.Equal(4, report.Totals.Differences);
            Assert.Equal(1, report.TableTotals.Single(t => t.TargetTable == "public.wallets").UnattributedRows);
            Assert.Contains(report.Checksums, x => x.TargetTable == "public.accounts" && x.RangesDiffering >= 1 && x.ExpectedDigest != x.TargetDigest);

            // The HTML report, rendered by a real browser, shows the JSON report's verdict, totals and differences.
            await AssertHtmlAgreesWithJsonAsync(_lastDirectory, real);

            // The command as operators run it: exit code 1 on a real difference; every run in the control table.
            var configPath = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"recdiff-{Guid.NewGuid():N}.yaml"));
            var outDir = Path.Combine(Path.GetTempPath(), "peeq-reconcile-tests", "command-" + Guid.NewGuid().ToString("N")[..6]);
            var (code, printed, _) = await PipelineProcess.RunAsync(TimeSpan.FromMinutes(3), "reconcile", "--config", configPath, "--out", outDir);
            output.WriteLine(printed);
            Assert.Equal(1, code);
            Assert.True(File.Exists(Path.Combine(outDir, ReportFiles.Html)), printed);
            Assert.Equal("clean,different,different", await SharedPostgres.ScalarAsync<string>(target,
                "SELECT string_agg(verdict, ',' ORDER BY finished_at) FROM peeq_cdc.reconciliation_runs"));
        }
    }

    private async Task AssertHtmlAgreesWithJsonAsync(string directory, IReadOnlyList<RowDifference> real)
    {
        HeadlessChromium.Executable();
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(directory, ReportFiles.Json)));
        var dom = await HeadlessChromium.DumpDomAsync(new Uri(Path.Combine(directory, ReportFiles.Html)).AbsoluteUri, 500, output);
        var shown = DataTotal().Matches(dom).ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        var totals = json.RootElement.GetProperty("totals").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        output.WriteLine($"html totals: {string.Join(", ", shown.Select(x => $"{x.Key}={x.Value}"))}");
        Assert.Equal(totals.OrderBy(x => x.Key, StringComparer.Ordinal), shown.OrderBy(x => x.Key, StringComparer.Ordinal));
        Assert.Equal(json.RootElement.GetProperty("verdict").GetString()!.ToLowerInvariant(), DataVerdict().Match(dom).Groups[1].Value);
        var text = System.Net.WebUtility.HtmlDecode(dom);
        Assert.All(real, d => Assert.Contains(d.Key, text, StringComparison.Ordinal));
    }

    [GeneratedRegex("data-total=\"([a-z_]+)\">(-?[0-9]+)<")]
    private static partial Regex DataTotal();

    [GeneratedRegex("data-verdict=\"([a-z]+)\"")]
    private static partial Regex DataVerdict();
}
