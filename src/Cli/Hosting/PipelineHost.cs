using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Operations.Dashboard;
using Peeq.Cdc.Operations.Status;
using Peeq.Cdc.Sink;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Stream;
using Prometheus;

namespace Peeq.Cdc.Cli.Hosting;

/// <summary>Which stages a process runs (one image serves every Deployment; <c>run</c> hosts all).</summary>
[Flags]
public enum Stages
{
    None = 0,
    Capture = 1,
    Transform = 2,
    Sink = 4,
    All = Capture | Transform | Sink,
}

/// <summary>
/// Hosts pipeline stages as background services beside a small web server for /metrics and /healthz, and
/// (with <c>dashboard</c>, as in <c>run</c> and <c>demo</c>) the built-in dashboard, /api/status and the notifications
/// (src/Operations/).
/// </summary>
public static class PipelineHost
{
    public static WebApplication Build(PipelineConfig config, KafkaEndpoint kafka, Stages stages, string? urls, LogLevel logLevel = LogLevel.Information,
        IReadOnlyCollection<string>? sources = null, IReadOnlyCollection<string>? targets = null, Action<WebApplicationBuilder>? configure = null,
        bool dashboard = false, string? reportsDirectory = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "peeq-cdc" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(logLevel);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        if (string.IsNullOrEmpty(urls))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.UseUrls(urls);
        }

        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(kafka);
        if (stages.HasFlag(Stages.Capture))
        {
            builder.Services.AddSingleton<IHostedService>(sp => new CaptureService(config, kafka, sp.GetRequiredService<ILoggerFactory>(), sources));
        }

        if (stages.HasFlag(Stages.Transform))
        {
            builder.Services.AddSingleton<IHostedService>(sp => new TransformService(config, kafka, Mappings.Load(config), sp.GetRequiredService<ILoggerFactory>(), sources));
        }

        if (stages.HasFlag(Stages.Sink))
        {
            builder.Services.AddSingleton<IHostedService>(sp => new SinkService(config, kafka, sp.GetRequiredService<ILoggerFactory>(), targets));
        }

        if (stages == Stages.All && config.Options.Reconcile.Interval > TimeSpan.Zero)
        {
            builder.Services.AddSingleton<IHostedService>(sp => new Reconciler.Scheduling.ReconcileService(config, Mappings.Load(config), sp.GetRequiredService<ILoggerFactory>()));
        }

        if (dashboard)
        {
            builder.Services.AddPipelineDashboard(config, new InProcessMetrics(), kafka, reportsDirectory);
        }

        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapMetrics("/metrics");
        app.MapGet("/healthz", () => Results.Json(new { status = "ok", stages = stages.ToString() }));
        if (dashboard)
        {
            app.MapPipelineDashboard();
        }

        return app;
    }
}

/// <summary>Loads the mapping of every target (identity, or a mapping file checked against the live catalogs).</summary>
public static class Mappings
{
    public static IReadOnlyDictionary<string, ITargetMapping> Load(PipelineConfig config) =>
        MappingLoader.LoadAsync(config, CancellationToken.None).GetAwaiter().GetResult();
}
