using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Peeq.Cdc.Cutover.Progress;

namespace Peeq.Cdc.Cutover.Reports;

/// <summary>
/// The cutover report (cutover.json, cutover.html): who signed it off, each step with what it did (the fence positions,
/// the drain, the final reconciliation's totals per table, the sequences, the decisions carried out, the constraints,
/// the privilege changes) and the rollback window. Built from the steps recorded in the target, so a resumed run and a
/// run started again after 'done' write the same report. <c>digest</c> is the SHA-256 of the JSON without it.
/// </summary>
public static class CutoverReport
{
    public const string Json = "cutover.json";
    public const string Html = "cutover.html";

    public static JsonObject Build(CutoverDomain domain, CutoverRunState run, IReadOnlyDictionary<string, CutoverStepState> steps, string by)
    {
        var stepsJson = new JsonObject();
        foreach (var name in CutoverRunner.Steps.Where(steps.ContainsKey))
        {
            var s = steps[name];
            stepsJson[name] = new JsonObject
            {
                ["state"] = s.State,
                ["startedAt"] = s.StartedAt.ToString("O"),
                ["finishedAt"] = s.FinishedAt?.ToString("O"),
                ["detail"] = s.Detail?.DeepClone(),
            };
        }

        var report = new JsonObject
        {
            ["domain"] = domain.Name,
            ["database"] = domain.Database,
            ["sources"] = new JsonArray([.. domain.Sources.Select(s => JsonValue.Create(s.Name))]),
            ["state"] = run.State,
            ["startedAt"] = run.StartedAt.ToString("O"),
            ["startedBy"] = run.StartedBy,
            ["signedOffBy"] = by,
            ["writtenAt"] = DateTimeOffset.UtcNow.ToString("O"),
            ["reconciliation"] = steps.TryGetValue("reconcile", out var rec) ? rec.Detail?.DeepClone() : null,
            ["steps"] = stepsJson,
            ["rollbackWindow"] = "The legacy databases stay as the fence left them: read-only, with every row, and their replication slots in place. "
                + "Until the services write the target, rolling back is: revoke the services' target privileges, grant back their legacy ones, "
                + "ALTER DATABASE ... RESET default_transaction_read_only. After the services have written the target, those writes exist only "
                + "there: reverse replication (target to legacy) is out of scope, so a rollback loses them. Drop the slots (and stop the domain's "
                + "Capture and Sink) when the window closes: a kept slot keeps WAL on the legacy server.",
        };
        report["digest"] = Digest(report);
        return report;
    }

    public static string Digest(JsonObject report)
    {
        var copy = report.DeepClone().AsObject();
        copy.Remove("digest");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(copy.ToJsonString())));
    }

    public static async Task<(string Json, string Html)> WriteAsync(JsonObject report, string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var json = Path.Combine(directory, Json);
        var html = Path.Combine(directory, Html);
        await File.WriteAllTextAsync(json, report.ToJsonString(CutoverJson.Options), ct);
        await File.WriteAllTextAsync(html, RenderHtml(report), ct);
        return (json, html);
    }

    public static string RenderHtml(JsonObject report)
    {
        var b = new StringBuilder();
        string E(string? s) => WebUtility.HtmlEncode(s ?? "");
        b.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cutover ").Append(E((string?)report["domain"])).Append("</title><style>")
            .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:90%}")
            .Append("th{background:#f3f3f3}.done{color:#070;font-weight:bold}.other{color:#a00;font-weight:bold}code{font-size:85%}")
            .Append("</style></head><body>");
        var state = (string?)report["state"];
        b.Append("<h1>Cutover of ").Append(E((string?)report["domain"])).Append(" (").Append(E((string?)report["database"])).Append(")</h1>");
        b.Append("<p>State: <span class=\"").Append(state == "done" ? "done" : "other").Append("\">").Append(E(state)).Append("</span>. Sources: ")
            .Append(E(string.Join(", ", report["sources"]!.AsArray().Select(n => (string?)n)))).Append(".</p>");
        b.Append("<p>Started ").Append(E((string?)report["startedAt"])).Append(" by ").Append(E((string?)report["startedBy"]))
            .Append("; signed off by <b>").Append(E((string?)report["signedOffBy"])).Append("</b>; written ").Append(E((string?)report["writtenAt"])).Append(".</p>");
        if (report["reconciliation"] is JsonObject rec)
        {
            b.Append("<h2>Final reconciliation</h2><p>").Append(E((string?)rec["summary"])).Append(" (run ").Append(E((string?)rec["runId"])).Append(", verdict ")
                .Append(E((string?)rec["verdict"])).Append(")</p>");
            Render(b, rec["totals"]);
            b.Append("<h3>Per table</h3>");
            Render(b, rec["tables"]);
        }

        b.Append("<h2>Steps</h2>");
        foreach (var (name, step) in report["steps"]!.AsObject())
        {
            b.Append("<h3>").Append(E(name)).Append(" — ").Append(E((string?)step!["state"])).Append("</h3><p>").Append(E((string?)step["startedAt"])).Append(" → ")
                .Append(E((string?)step["finishedAt"])).Append("</p>");
            if (name != "reconcile")
            {
                Render(b, step["detail"]);
            }
        }

        b.Append("<h2>Rollback window</h2><p>").Append(E((string?)report["rollbackWindow"])).Append("</p>");
        b.Append("<p>SHA-256 of the JSON report without this field: <code>").Append(E((string?)report["digest"])).Append("</code></p></body></html>");
        return b.ToString();
    }

    /// <summary>Objects as two-column tables, arrays of objects as tables with a column per property, values as text.</summary>
    private static void Render(StringBuilder b, JsonNode? node)
    {
        switch (node)
        {
            case null:
                b.Append("<i>none</i>");
                break;
            case JsonObject o:
                b.Append("<table>");
                foreach (var (k, v) in o)
                {
                    b.Append("<tr><th>").Append(WebUtility.HtmlEncode(k)).Append("</th><td>");
                    Render(b, v);
                    b.Append("</td></tr>");
                }

                b.Append("</table>");
                break;
            case JsonArray a when a.Count > 0 && a.All(x => x is JsonObject):
                var columns = a.SelectMany(x => x!.AsObject().Select(p => p.Key)).Distinct().ToList();
                b.Append("<table><tr>");
                foreach (var c in columns)
                {
                    b.Append("<th>").Append(WebUtility.HtmlEncode(c)).Append("</th>");
                }

                b.Append("</tr>");
                foreach (var row in a)
                {
                    b.Append("<tr>");
                    foreach (var c in columns)
                    {
                        b.Append("<td>");
                        Render(b, row![c]);
                        b.Append("</td>");
                    }

                    b.Append("</tr>");
                }

                b.Append("</table>");
                break;
            case JsonArray a:
                b.Append(a.Count == 0 ? "<i>none</i>" : WebUtility.HtmlEncode(string.Join(", ", a.Select(x => x is JsonValue ? x.ToString() : x?.ToJsonString()))));
                break;
            default:
                b.Append(WebUtility.HtmlEncode(node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString()));
                break;
        }
    }
}
