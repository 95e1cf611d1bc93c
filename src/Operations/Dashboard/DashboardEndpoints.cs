using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Operations.Notifications;
using Peeq.Cdc.Operations.Status;

namespace Peeq.Cdc.Operations.Dashboard;

/// <summary>
/// The built-in dashboard: a static page (Dashboard/wwwroot, embedded in this assembly; vanilla JS, no build)
/// that polls <c>GET /api/status</c>. Served by <c>peeq-cdc dashboard</c>, and by <c>run</c> and <c>demo</c> beside
/// /metrics and /healthz on the same <c>http.urls</c>.
/// </summary>
public static class DashboardEndpoints
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
    };

    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".json"] = "application/json; charset=utf-8",
        [".csv"] = "text/csv; charset=utf-8",
        [".svg"] = "image/svg+xml",
    };

    /// <summary>
    /// Registers the status collector and its sampler, and the notifications. <paramref name="metrics"/> is the
    /// process's own registry inside run/demo, or the workers' pages for the standalone dashboard.
    /// </summary>
    public static void AddPipelineDashboard(this IServiceCollection services, PipelineConfig config, IMetricsReader metrics, KafkaEndpoint? kafka, string? reportsDirectory = null)
    {
        var reports = reportsDirectory ?? (config.Options.Dashboard.Reports is { } r ? config.Resolve(r) : null);
        services.AddSingleton(config.Options);
        services.AddSingleton(new StatusCollector(config, metrics, kafka, reports is null ? null : new ReconciliationReports(reports)));
        services.AddSingleton<StatusSampler>();
        services.AddHostedService(sp => sp.GetRequiredService<StatusSampler>());
        services.AddPipelineNotifications(config.Options.Notifications);
    }

    public static IEndpointRouteBuilder MapPipelineDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Asset("index.html"));
        app.MapGet("/dashboard/{file}", (string file) => Asset(file));
        app.MapGet("/api/status", async (StatusSampler sampler, CancellationToken ct) =>
            Results.Json(await sampler.GetAsync(ct), Json));
        app.MapGet("/reports/{**path}", (string path, StatusCollector collector) =>
            collector.Reports?.Resolve(path) is { } file
                ? Results.File(file, ContentTypes.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream"))
                : Results.NotFound());
        return app;
    }

    /// <summary>The dashboard's URL for people, from the addresses the server listens on.</summary>
    public static string PageUrl(IEnumerable<string> listening) =>
        (listening.FirstOrDefault() ?? "http://127.0.0.1").TrimEnd('/') + "/";

    private static IResult Asset(string file)
    {
        var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("dashboard/" + file);
        return stream is null
            ? Results.NotFound()
            : Results.Stream(stream, ContentTypes.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream"));
    }

    internal static IEnumerable<string> AssetNames() =>
        typeof(DashboardEndpoints).Assembly.GetManifestResourceNames().Where(n => n.StartsWith("dashboard/", StringComparison.Ordinal));
}
