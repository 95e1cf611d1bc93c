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

/// <summary>Makes the shared test server ask these roles for their password (scram-sha-256) over TCP; other roles keep trust.</summary>
public static class PasswordAuth
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task RequireAsync(string connectionString, params string[] roles)
    {
        var pg = await SharedPostgres.GetAsync();
        await Gate.WaitAsync();
        try
        {
            var hba = Path.Combine(pg.DataDirectory, "pg_hba.conf");
            var text = await File.ReadAllTextAsync(hba);
            // pg_hba.conf is read top-down, first match wins: these lines go before the cluster's trust lines.
            var lines = roles.SelectMany(r => new[] { $"host all {r} 127.0.0.1/32 scram-sha-256", $"host replication {r} 127.0.0.1/32 scram-sha-256" })
                .Where(l => !text.Contains(l, StringComparison.Ordinal)).ToList();
            if (lines.Count > 0)
            {
                await File.WriteAllTextAsync(hba, string.Join("\n", lines) + "\n" + text);
                await SharedPostgres.ExecuteAsync(pg.ConnectionString(), "SELECT pg_reload_conf()");
            }
        }
        finally
        {
            Gate.Release();
        }

        // The reload is asynchronous: wait until a wrong password is refused.
        await Wait.ForAsync(async () =>
        {
            try
            {
                await SharedPostgres.ExecuteAsync(LeastPrivilege.As(connectionString, roles[0], "not-the-password"), "SELECT 1");
                return false;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidPassword)
            {
                return true;
            }
        }, "pg_hba.conf asking for passwords", 60);
    }
}
