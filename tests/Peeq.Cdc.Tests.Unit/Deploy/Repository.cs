using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>Paths in the repository and the tools the deploy checks run.</summary>
public static partial class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Peeq.Cdc.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"no Peeq.Cdc.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Every metric name mentioned in a text (histogram series folded to their metric).</summary>
    public static SortedSet<string> MetricNames(string text)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match m in MetricName().Matches(text))
        {
            names.Add(Regex.Replace(m.Value, "_(bucket|sum|count)$", ""));
        }

        return names;
    }

    /// <summary>Metric names documented in docs/metrics.md.</summary>
    public static SortedSet<string> DocumentedMetrics() => MetricNames(File.ReadAllText(Path("docs", "metrics.md")));

    /// <summary>Metric names created in the code (Metrics.CreateCounter/Gauge/Histogram("name", ...)).</summary>
    public static SortedSet<string> MetricsInCode()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(Path("src"), "*.cs", SearchOption.AllDirectories))
        {
            foreach (Match m in CreatedMetric().Matches(File.ReadAllText(f)))
            {
                names.Add(m.Groups[1].Value);
            }
        }

        return names;
    }

    /// <summary>Runs a tool to completion; fails the test with the reason when it is not installed.</summary>
    public static (int ExitCode, string Output) Run(string tool, string workingDirectory, string installHint, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"'{tool}' is not installed ({e.Message}): {installHint}");
            throw;
        }

        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(120_000))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"{tool} {string.Join(' ', args)} did not finish within 120 s");
            }

            return (p.ExitCode, stdout.Result + stderr.Result);
        }
    }

    [GeneratedRegex(@"\bpeeq_cdc_[a-z0-9_]+[a-z0-9](?![a-z0-9_*])")]
    private static partial Regex MetricName();

    [GeneratedRegex("""Metrics\.Create(?:Counter|Gauge|Histogram|Summary)\(\s*"(peeq_cdc_[a-z0-9_]+)""")]
    private static partial Regex CreatedMetric();
}
