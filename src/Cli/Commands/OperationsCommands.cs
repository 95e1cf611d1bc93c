using System.CommandLine;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Operations.Connectors;
using Peeq.Cdc.Operations.Dashboard;
using Peeq.Cdc.Operations.Status;
using Prometheus;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>status</c>, <c>dashboard</c> and <c>connectors generate</c> (src/Operations/, docs/operations.md).</summary>
public static class OperationsCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Status();
        yield return Dashboard();
        yield return Connectors();
    }

    private static Command Status()
    {
        var config = new Option<FileInfo?>("--config", "-c") { Description = "The pipeline configuration: the status is read from its databases, Kafka and dashboard.metrics" };
        var url = new Option<string?>("--url") { Description = "Ask a running dashboard instead (run, demo or dashboard), e.g. http://127.0.0.1:9464" };
        var json = new Option<bool>("--json") { Description = "Print the status as JSON (the same document as GET /api/status)" };
        var command = new Command("status", "Show every source's lag, slot health, throughput, parked rows and the stages' consumer lag; exits 1 when a source is stalled, down or unreachable")
        {
            config,
            url,
            json,
        };
        command.SetAction(async (parse, ct) =>
        {
            PipelineStatus status;
            if (parse.GetValue(url) is { } u)
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                var text = await http.GetStringAsync(new Uri(new Uri(u.TrimEnd('/') + "/"), "api/status"), ct);
                status = JsonSerializer.Deserialize<PipelineStatus>(text, DashboardEndpoints.Json)!;
            }
            else if (parse.GetValue(config) is { } file)
            {
                var pipeline = PipelineConfig.Load(file.FullName);
                using var http = new HttpClient();
                await using var collector = Collector(pipeline, http);

                // Two samples one refresh apart: rates need an interval, and the lag rules compare with the previous sample.
                await collector.CollectAsync(ct);
                await Task.Delay(pipeline.Options.Dashboard.RefreshInterval, ct);
                status = await collector.CollectAsync(ct);
            }
            else
            {
                throw new ConfigurationException("status: give --config FILE or --url URL of a running dashboard");
            }

            Console.Write(parse.GetValue(json) ? JsonSerializer.Serialize(status, new JsonSerializerOptions(DashboardEndpoints.Json) { WriteIndented = true }) + Environment.NewLine : StatusTable.Render(status));
            return status.Sources.Any(s => s.State is "stalled" or "capture-down" or "unreachable") ? 1 : 0;
        });
        return command;
    }

    private static Command Dashboard()
    {
        var config = CliOptions.Config();
        var http = CliOptions.Http();
        var logLevel = CliOptions.LogLevel();
        var command = new Command("dashboard", "Serve the dashboard, /api/status and the status metrics on their own, reading the databases, Kafka and the workers' /metrics (dashboard.metrics)")
        {
            config,
            http,
            logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            var urls = parse.GetValue(http) ?? pipeline.Options.Http.Urls;
            if (string.IsNullOrEmpty(urls) || urls == "off")
            {
                throw new ConfigurationException("dashboard: http.urls (or --http) must say where to serve the dashboard");
            }

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "peeq-cdc" });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            });
            builder.Logging.SetMinimumLevel(parse.GetValue(logLevel));
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.WebHost.UseUrls(urls);
            var scraper = new HttpClient();
            builder.Services.AddPipelineDashboard(pipeline, new ScrapedMetrics(pipeline.Options.Dashboard.Metrics, scraper), KafkaFor(pipeline));
            await using var app = builder.Build();
            app.MapMetrics("/metrics");
            app.MapGet("/healthz", () => Microsoft.AspNetCore.Http.Results.Json(new { status = "ok", stages = "dashboard" }));
            app.MapPipelineDashboard();
            await app.StartAsync(ct);
            Console.Error.WriteLine($"dashboard: {DashboardEndpoints.PageUrl(app.Urls)} (scraping {pipeline.Options.Dashboard.Metrics.Count} metrics page(s))");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }

            await app.StopAsync(CancellationToken.None);
            scraper.Dispose();
            return 0;
        });
        return command;
    }

    private static Command Connectors()
    {
        var config = CliOptions.Config();
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for the connector configs (one <source>.json each)", DefaultValueFactory = _ => new DirectoryInfo("connectors") };
        var generate = new Command("generate", "Write one Debezium PostgreSQL connector config per source, from the pipeline configuration (connectors/README.md)")
        {
            config,
            output,
        };
        generate.SetAction(parse =>
        {
            var pipeline = DebeziumConnectors.LoadConfig(parse.GetValue(config)!.FullName);
            var dir = parse.GetValue(output)!.FullName;
            foreach (var g in DebeziumConnectors.Write(pipeline.Options, dir))
            {
                Console.WriteLine($"{Path.Combine(dir, g.FileName)}");
                foreach (var n in g.Notes)
                {
                    Console.Error.WriteLine($"note: {n}");
                }
            }

            return 0;
        });
        return new Command("connectors", "Debezium connector configs") { generate };
    }

    private static StatusCollector Collector(PipelineConfig pipeline, HttpClient http) =>
        new(pipeline, new ScrapedMetrics(pipeline.Options.Dashboard.Metrics, http), KafkaFor(pipeline),
            pipeline.Options.Dashboard.Reports is { } r ? new ReconciliationReports(pipeline.Resolve(r)) : null);

    /// <summary>Kafka as the config names it; an embedded broker lives inside another process and is not reachable by name.</summary>
    private static KafkaEndpoint? KafkaFor(PipelineConfig pipeline) =>
        pipeline.Options.Kafka.IsEmbedded ? null : KafkaEndpoint.FromOptions(pipeline.Options.Kafka);
}
