using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Cutover.ForeignKeys;
using Peeq.Cdc.Schema;

namespace Peeq.Cdc.Cutover;

/// <summary>
/// A domain to cut over: one target (by its configured name) and every source that feeds it. The references and the
/// foreign keys are those of the target's consolidated database (<see cref="TargetOptions.Database"/>): references from
/// <c>reconcile.references</c> (or the built-in references.yaml), constraints from
/// <c>schemas/target/&lt;database&gt;.foreign-keys.sql</c> (built in) or a file given instead.
/// </summary>
public sealed class CutoverDomain
{
    private CutoverDomain(PipelineConfig config, TargetOptions target, IReadOnlyList<SourceOptions> sources, string database,
        IReadOnlyList<Reference> references, IReadOnlyList<ForeignKeyStatement> foreignKeys, string foreignKeysFrom)
    {
        Config = config;
        Target = target;
        Sources = sources;
        Database = database;
        References = references;
        ForeignKeys = foreignKeys;
        ForeignKeysFrom = foreignKeysFrom;
    }

    public PipelineConfig Config { get; }

    public string Name => Target.Name;

    public TargetOptions Target { get; }

    public IReadOnlyList<SourceOptions> Sources { get; }

    /// <summary>The consolidated database the target is (peeq_users, ...), as references.yaml names it.</summary>
    public string Database { get; }

    /// <summary>Every reference whose referring rows live in this database (within it, or pointing at another).</summary>
    public IReadOnlyList<Reference> References { get; }

    /// <summary>The references a constraint of this database enforces after cutover: their dangling rows block it until decided.</summary>
    public IReadOnlyList<Reference> Enforced => References.Where(r => r.IsWithinOneDatabase && r.ForeignKey is not null).ToList();

    public IReadOnlyList<ForeignKeyStatement> ForeignKeys { get; }

    /// <summary>Where <see cref="ForeignKeys"/> came from, for the plan and the report.</summary>
    public string ForeignKeysFrom { get; }

    /// <summary>
    /// The configuration narrowed to this domain (its sources and its target only): what the final reconciliation reads,
    /// so another domain's lag or differences never decide this one's cutover.
    /// </summary>
    public PipelineConfig DomainConfig
    {
        get
        {
            var o = Config.Options;
            var options = new PipelineOptions
            {
                Kafka = o.Kafka,
                Sources = [.. Sources],
                Targets = [Target],
                Capture = o.Capture,
                Transform = o.Transform,
                Sink = o.Sink,
                Http = o.Http,
                Reconcile = o.Reconcile,
                Dashboard = o.Dashboard,
                Notifications = o.Notifications,
            };
            return new PipelineConfig(options, Config.File);
        }
    }

    public static CutoverDomain Resolve(PipelineConfig config, string domain, string? foreignKeysPath)
    {
        var target = config.Options.Targets.FirstOrDefault(t => t.Name == domain)
            ?? throw new ConfigurationException($"no target named '{domain}' is configured (a domain is a target: {string.Join(", ", config.Options.Targets.Select(t => t.Name))})");
        var sources = config.Options.Sources.Where(s => s.Target == domain).ToList();
        if (sources.Count == 0)
        {
            throw new ConfigurationException($"domain '{domain}': no source feeds target '{domain}'");
        }

        var database = target.Database ?? new NpgsqlConnectionStringBuilder(target.ConnectionString).Database
            ?? throw new ConfigurationException($"target '{domain}': the connection string names no database; set targets[].database");
        var references = string.IsNullOrEmpty(config.Options.Reconcile.References)
            ? Schema.References.Default
            : Schema.References.Load(config.Resolve(config.Options.Reconcile.References));
        var mine = references.Where(r => r.From.Database == database).ToList();
        var (statements, from) = foreignKeysPath is null ? ForeignKeyFile.Builtin(database) : (ForeignKeyFile.Load(foreignKeysPath), foreignKeysPath);
        foreach (var r in mine.Where(r => r.ForeignKey is not null && r.IsWithinOneDatabase))
        {
            if (!statements.Any(s => s.Name == r.ForeignKey))
            {
                throw new ConfigurationException($"reference '{r.Name}' names constraint '{r.ForeignKey}', which {from} does not add");
            }
        }

        return new CutoverDomain(config, target, sources, database, mine, statements, from);
    }
}
