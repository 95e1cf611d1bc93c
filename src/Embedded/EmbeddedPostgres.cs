using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Npgsql;

namespace Peeq.Cdc.Embedded;

/// <summary>Settings for a throwaway PostgreSQL cluster.</summary>
public sealed record EmbeddedPostgresOptions
{
    /// <summary>Directory holding initdb, pg_ctl and postgres; null = PEEQ_PG_BIN, else the newest /usr/lib/postgresql/N/bin.</summary>
    public string? BinDirectory { get; init; }

    /// <summary>Port to listen on; 0 = a free one.</summary>
    public int Port { get; init; }

    /// <summary>Replication slots and WAL senders to allow (22 sources on one server need more than the default 10).</summary>
    public int MaxReplicationSlots { get; init; } = 64;

    public int MaxConnections { get; init; } = 300;

    /// <summary>fsync on: only benchmarks that measure durability cost need it; commits still survive a process kill without it.</summary>
    public bool Fsync { get; init; }

    /// <summary>Extra postgresql.conf lines (name = value).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>A name for the cluster's temp directory and log lines.</summary>
    public string Name { get; init; } = "pg";
}

/// <summary>
/// Starts and stops a throwaway PostgreSQL cluster (wal_level=logical, a free port, a temp directory)
/// from the machine's PostgreSQL binaries. When this process runs as root the server runs as the
/// <c>postgres</c> OS user, because PostgreSQL refuses to run as root.
/// </summary>
public sealed partial class EmbeddedPostgres : IAsyncDisposable
{
    public const string SuperUser = "postgres";
    private readonly EmbeddedPostgresOptions _options;
    private readonly string _bin;
    private bool _running;

    private EmbeddedPostgres(EmbeddedPostgresOptions options, string bin, string root, int port)
    {
        _options = options;
        _bin = bin;
        Root = root;
        Port = port;
    }

    public string Root { get; }

    public string DataDirectory => Path.Combine(Root, "data");

    public string LogFile => Path.Combine(Root, "postgres.log");

    public int Port { get; private set; }

    public string Host => "127.0.0.1";

    public string BinDirectory => _bin;

    /// <summary>Creates the cluster and starts it.</summary>
    public static async Task<EmbeddedPostgres> StartAsync(EmbeddedPostgresOptions? options = null, CancellationToken ct = default)
    {
        options ??= new EmbeddedPostgresOptions();
        var bin = FindBinaries(options.BinDirectory);
        await RemoveAbandonedClustersAsync(bin, ct);
        var root = Path.Combine(Path.GetTempPath(), $"peeq-cdc-{options.Name}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..48]);
        Directory.CreateDirectory(root);
        var port = options.Port != 0 ? options.Port : FreePort();
        var pg = new EmbeddedPostgres(options, bin, root, port);
        try
        {
            await pg.InitAsync(ct);
            await pg.StartServerAsync(ct);
        }
        catch
        {
            await pg.DisposeAsync();
            throw;
        }

        return pg;
    }

    /// <summary>
    /// Stops and deletes clusters left in the temp directory by processes that are gone (a killed test host,
    /// an interrupted demo): their directory name carries the owner's process id, and a cluster whose owner
    /// no longer runs can never be used again. Without this, every killed run leaves gigabytes of WAL behind.
    /// </summary>
    public static async Task RemoveAbandonedClustersAsync(string bin, CancellationToken ct = default)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), "peeq-cdc-*"))
        {
            var match = AbandonedName().Match(Path.GetFileName(dir));
            if (!match.Success || !int.TryParse(match.Groups[1].Value, out var owner) || IsAlive(owner))
            {
                continue;
            }

            try
            {
                var data = Path.Combine(dir, "data");
                var pidFile = Path.Combine(data, "postmaster.pid");
                if (File.Exists(pidFile)
                    && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var postmaster)
                    && IsAlive(postmaster)
                    && File.ReadAllText($"/proc/{postmaster}/cmdline").Contains(data, StringComparison.Ordinal))
                {
                    var stray = new EmbeddedPostgres(new EmbeddedPostgresOptions(), bin, dir, 0);
                    try
                    {
                        await stray.RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"], ct);
                    }
                    catch (InvalidOperationException)
                    {
                        // pg_ctl refuses a data directory that is partly gone; its server children exit once the postmaster does.
                        using var process = Process.GetProcessById(postmaster);
                        process.Kill();
                        await process.WaitForExitAsync(ct);
                    }
                }

                Directory.Delete(dir, recursive: true);
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
                // Best effort: another process may be removing it at the same moment.
            }
        }
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");

    [System.Text.RegularExpressions.GeneratedRegex(@"^peeq-cdc-.+-(\d+)-[0-9a-f]+$")]
    private static partial System.Text.RegularExpressions.Regex AbandonedName();

    /// <summary>Finds initdb/pg_ctl/postgres, or says where it looked and how to install them.</summary>
    public static string FindBinaries(string? configured)
    {
        var candidates = new List<string>();
        if (!string.IsNullOrEmpty(configured))
        {
            candidates.Add(configured);
        }
        else if (Environment.GetEnvironmentVariable("PEEQ_PG_BIN") is { Length: > 0 } env)
        {
            candidates.Add(env);
        }
        else
        {
            candidates.Add("/usr/lib/postgresql/15/bin");
            if (Directory.Exists("/usr/lib/postgresql"))
            {
                candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                    .Select(d => Path.Combine(d, "bin"))
                    .OrderByDescending(d => d, StringComparer.Ordinal));
            }
        }

        foreach (var dir in candidates.Distinct())
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres")))
            {
                return dir;
            }
        }

        throw new InvalidOperationException(
            $"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; looked in: {string.Join(", ", candidates.Distinct())}. "
            + "Install them with 'apt-get update && apt-get install -y postgresql-15' (Debian/Ubuntu), "
            + "or set PEEQ_PG_BIN to the directory that holds initdb and pg_ctl.");
    }

    public string ConnectionString(string database = "postgres", string user = SuperUser, string? password = null)
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = user,
            Database = database,
            Pooling = true,
            MaxPoolSize = 50,
            Timeout = 15,
            CommandTimeout = 300,
        };
        if (password is not null)
        {
            b.Password = password;
        }

        return b.ConnectionString;
    }

    public async Task<NpgsqlConnection> OpenAsync(string database = "postgres", CancellationToken ct = default)
    {
        var conn = new NpgsqlConnection(ConnectionString(database));
        await conn.OpenAsync(ct);
        return conn;
    }

    /// <summary>Creates a database (dropping one of the same name first, with anything attached to it).</summary>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        await using var conn = await OpenAsync("postgres", ct);
        await DropDatabaseAsync(conn, name, ct);
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {Contracts.Sql.QuoteIdent(name)}", conn);
        await cmd.ExecuteNonQueryAsync(ct);
        return ConnectionString(name);
    }

    public async Task DropDatabaseAsync(string name, CancellationToken ct = default)
    {
        await using var conn = await OpenAsync("postgres", ct);
        await DropDatabaseAsync(conn, name, ct);
    }

    private static async Task DropDatabaseAsync(NpgsqlConnection conn, string name, CancellationToken ct)
    {
        // Slots pin a database; drop ours first.
        await using (var slots = new NpgsqlCommand(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = @db AND NOT active", conn))
        {
            slots.Parameters.AddWithValue("db", name);
            await slots.ExecuteNonQueryAsync(ct);
        }

        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Contracts.Sql.QuoteIdent(name)} WITH (FORCE)", conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Stops the server: <c>fast</c> (clean) or <c>immediate</c> (as after a crash; restart runs recovery).</summary>
    public async Task StopAsync(string mode = "fast", CancellationToken ct = default)
    {
        if (!_running)
        {
            return;
        }

        await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", DataDirectory, "-m", mode, "-w", "-t", "60", "stop"], ct);
        _running = false;
        NpgsqlConnection.ClearAllPools();
    }

    public async Task StartServerAsync(CancellationToken ct = default)
    {
        if (_running)
        {
            return;
        }

        await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", DataDirectory, "-l", LogFile, "-w", "-t", "120", "start"], ct);
        _running = true;
    }

    public async Task RestartAsync(string mode = "fast", CancellationToken ct = default)
    {
        await StopAsync(mode, ct);
        await StartServerAsync(ct);
    }

    private async Task InitAsync(CancellationToken ct)
    {
        if (IsRoot())
        {
            await RunAsync("chown", ["-R", SuperUser, Root], ct, asPostgres: false);
        }

        await RunAsync(Path.Combine(_bin, "initdb"), ["-D", DataDirectory, "-A", "trust", "-U", SuperUser, "-E", "UTF8", "--no-locale", "--no-sync"], ct);
        var settings = new Dictionary<string, string>
        {
            ["listen_addresses"] = "'127.0.0.1'",
            ["port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["unix_socket_directories"] = $"'{Root}'",
            ["wal_level"] = "logical",
            ["max_replication_slots"] = _options.MaxReplicationSlots.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["max_wal_senders"] = _options.MaxReplicationSlots.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["max_connections"] = _options.MaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["fsync"] = _options.Fsync ? "on" : "off",
            ["full_page_writes"] = _options.Fsync ? "on" : "off",
            ["shared_buffers"] = "128MB",
            ["max_wal_size"] = "2GB",
            ["logical_decoding_work_mem"] = "64MB",
            ["log_min_messages"] = "warning",
            ["log_line_prefix"] = "'%m [%p] %d '",
            ["timezone"] = "'UTC'",
        };
        foreach (var (k, v) in _options.Settings)
        {
            settings[k] = v;
        }

        await File.AppendAllLinesAsync(
            Path.Combine(DataDirectory, "postgresql.conf"),
            settings.Select(kv => $"{kv.Key} = {kv.Value}"),
            ct);
        if (IsRoot())
        {
            await RunAsync("chown", [SuperUser, Path.Combine(DataDirectory, "postgresql.conf")], ct, asPostgres: false);
        }

        // Allow replication connections over TCP (trust: a throwaway, loopback-only cluster).
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n", ct);
    }

    private async Task RunAsync(string file, string[] args, CancellationToken ct, bool asPostgres = true)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres && IsRoot())
        {
            psi.FileName = "runuser";
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(SuperUser);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(file);
        }
        else
        {
            psi.FileName = file;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0)
        {
            var log = File.Exists(LogFile) ? string.Join('\n', (await File.ReadAllLinesAsync(LogFile, ct)).TakeLast(20)) : "";
            throw new InvalidOperationException(
                $"{Path.GetFileName(file)} {string.Join(' ', args)} failed with exit code {p.ExitCode}: {(await stderr).Trim()} {(await stdout).Trim()}"
                + (log.Length > 0 ? $"\nserver log ({LogFile}):\n{log}" : ""));
        }
    }

    public static bool IsRoot() => OperatingSystem.IsLinux() && geteuid() == 0;

    [DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync("immediate");
        }
        catch (Exception)
        {
            // Best effort: a server that is already gone is fine.
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception)
        {
        }
    }
}
