using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>
/// Debian's headless Chromium, run as a child process: loads a page, lets its scripts run for a virtual-time
/// budget (timers advance, network requests complete for real), and returns the resulting DOM. Works offline
/// and as root (--no-sandbox), with a fresh profile each time. A machine without Chromium fails the test with
/// the reason.
/// </summary>
public static partial class HeadlessChromium
{
    public static string Executable()
    {
        var configured = Environment.GetEnvironmentVariable("PEEQ_CHROMIUM");
        foreach (var candidate in new[] { configured, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" })
        {
            if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail("headless Chromium is not installed: the dashboard's browser test needs Debian's 'chromium' package "
            + "(apt-get install -y chromium; ./dev test installs it), or PEEQ_CHROMIUM pointing at a Chromium binary");
        return "";
    }

    /// <summary>The page's DOM after its scripts ran for <paramref name="virtualTimeMs"/> of virtual time.</summary>
    public static async Task<string> DumpDomAsync(string url, int virtualTimeMs, ITestOutputHelper output)
    {
        var profile = Directory.CreateTempSubdirectory("peeq-chromium-");
        try
        {
            var psi = new ProcessStartInfo(Executable())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions",
                "--no-first-run", "--disable-dev-shm-usage", $"--user-data-dir={profile.FullName}",
                $"--virtual-time-budget={virtualTimeMs}", "--dump-dom", url,
            })
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            try
            {
                await p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"chromium did not finish loading {url} within 90 s; stderr: {await stderr}");
            }

            var dom = await stdout;
            if (p.ExitCode != 0 || dom.Length == 0)
            {
                Assert.Fail($"chromium exited {p.ExitCode} loading {url}; stderr: {await stderr}");
            }

            output.WriteLine($"[chromium] {url}: {dom.Length} characters of DOM");
            return dom;
        }
        finally
        {
            try
            {
                profile.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Every figure the dashboard shows: data-figure → data-value (the raw number or text behind the cell).</summary>
    public static Dictionary<string, string> Figures(string dom)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in Figure().Matches(dom))
        {
            result[WebUtility.HtmlDecode(m.Groups[1].Value)] = WebUtility.HtmlDecode(m.Groups[2].Value);
        }

        return result;
    }

    [GeneratedRegex("data-figure=\"([^\"]*)\" data-value=\"([^\"]*)\"")]
    private static partial Regex Figure();
}
