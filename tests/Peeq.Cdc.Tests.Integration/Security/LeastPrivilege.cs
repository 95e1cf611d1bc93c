using System.Diagnostics;
using Npgsql;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Security;

/// <summary>Runs deploy/sql/least-privilege-*.sql with psql against a test database, as its superuser.</summary>
public static class LeastPrivilege
{
    public const string Psql = "/usr/lib/postgresql/15/bin/psql";

    public static async Task RunScriptAsync(string connectionString, string script, ITestOutputHelper output, params (string Name, string Value)[] variables)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        var psi = new ProcessStartInfo(Psql) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-X", "-q", "-h", b.Host!, "-p", b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", b.Username!, "-d", b.Database!,
            "-f", Path.Combine(Wait.RepoRoot(), "deploy", "sql", script) })
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (name, value) in variables)
        {
            psi.ArgumentList.Add("-v");
            psi.ArgumentList.Add($"{name}={value}");
        }

        if (!string.IsNullOrEmpty(b.Password))
        {
            psi.Environment["PGPASSWORD"] = b.Password;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var text = (await stdout) + (await stderr);
        output.WriteLine($"[psql {script}] exit {p.ExitCode}");
        Assert.True(p.ExitCode == 0, $"psql -f {script} failed ({p.ExitCode}): {text}");
    }

    /// <summary>The connection string as another role (the test server trusts local connections; a password is sent if set).</summary>
    public static string As(string connectionString, string role, string? password = null) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Username = role, Password = password }.ConnectionString;
}
