namespace Peeq.Cdc.Configuration;

/// <summary>
/// The <c>reconcile:</c> section: what the reconciler checks beyond row counts and checksums, how it
/// waits for the pipeline at a watermark, and whether the worker runs it on a schedule.
/// </summary>
public sealed class ReconcileOptions
{
    /// <summary>Balance checks file (relative to the config file); none when empty.</summary>
    public string? Checks { get; set; }

    /// <summary>References file (relative to the config file), normally schemas/target/references.yaml; none when empty.</summary>
    public string? References { get; set; }

    /// <summary>Where reports go (scheduled runs; <c>reconcile --out</c> overrides).</summary>
    public string Out { get; set; } = "reports";

    /// <summary>How often <c>run</c> reconciles in the background; zero disables the schedule.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.Zero;

    /// <summary>How long to wait for the Sink to apply each source up to its watermark.</summary>
    public TimeSpan WatermarkWait { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How many times a difference on a key that moved after the watermark is checked again before it is reported unresolved.</summary>
    public int RecheckRounds { get; set; } = 3;

    /// <summary>Pause between re-check rounds (lets the pipeline catch up).</summary>
    public TimeSpan RecheckDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Source keys per checksum range.</summary>
    public int RangeRows { get; set; } = 1000;

    /// <summary>Items listed per kind in the HTML and JSON reports (the CSV files list all).</summary>
    public int ListLimit { get; set; } = 100;

    /// <summary>Most differences kept for re-checking in one run; beyond it they are reported unresolved without a re-check.</summary>
    public int RecheckLimit { get; set; } = 20000;

    /// <summary>
    /// Database names used in the references and checks files, to configured target names, where the
    /// connection string's database name differs from the name in the file (e.g. <c>peeq_users: users</c>).
    /// </summary>
    public Dictionary<string, string> Databases { get; set; } = [];
}
