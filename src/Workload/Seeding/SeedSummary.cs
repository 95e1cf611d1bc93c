using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>What seed-data made: rows per table, database sizes, and every planted anomaly with its count.</summary>
public sealed record SeedSummary(
    long Seed,
    double Scale,
    DateTimeOffset Started,
    double ElapsedSeconds,
    IReadOnlyList<SeededDatabase> Databases,
    IReadOnlyList<AnomalyCount> Anomalies)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public long TotalRows => Databases.Sum(d => d.Rows);

    public long TotalBytes => Databases.Sum(d => d.SizeBytes);

    public AnomalyCount Anomaly(string name) => Anomalies.FirstOrDefault(a => a.Name == name)
        ?? throw new KeyNotFoundException($"no anomaly named {name}");

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static SeedSummary FromJson(string json) => JsonSerializer.Deserialize<SeedSummary>(json, JsonOptions)
        ?? throw new FormatException("empty seed summary");

    public async Task WriteAsync(string path, CancellationToken ct)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        await File.WriteAllTextAsync(path, ToJson(), ct);
    }

    public void Print(TextWriter o)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"seed-data: seed {Seed}, scale {Scale}: {TotalRows:N0} rows in {Databases.Count} databases, {TotalBytes / 1048576.0:N1} MiB, {ElapsedSeconds:0.0} s"));
        o.WriteLine();
        o.WriteLine(string.Create(c, $"{"database / table",-58} {"rows",12} {"size",10}"));
        foreach (var d in Databases)
        {
            o.WriteLine(string.Create(c, $"{d.Database + " (" + d.Key + "-db → " + d.TargetDatabase + ")",-58} {d.Rows,12:N0} {d.SizeBytes / 1048576.0,8:N1} MiB"));
            foreach (var t in d.Tables)
            {
                o.WriteLine(string.Create(c, $"  {t.Table,-56} {t.Rows,12:N0}"));
            }
        }

        o.WriteLine();
        o.WriteLine(string.Create(c, $"{"anomaly",-86} {"count",8}"));
        foreach (var a in Anomalies)
        {
            o.WriteLine(string.Create(c, $"{a.Name,-86} {a.Count,8:N0}  {a.Description}"));
        }
    }
}

public sealed record SeededDatabase(
    string Key,
    string Database,
    string Server,
    string Domain,
    string TargetDatabase,
    IReadOnlyList<SeededTable> Tables,
    long Rows,
    long SizeBytes,
    double ElapsedSeconds,
    double CopySeconds,
    double IndexSeconds);

public sealed record SeededTable(string Table, long Rows);

/// <summary>One anomaly and how many rows (or values) carry it; <see cref="Where"/> says how to find them.</summary>
public sealed record AnomalyCount(string Name, string Kind, string Database, string Table, string Column, long Count, string Where, string Description);
