using Peeq.Cdc.Configuration;
using Peeq.Cdc.Reconciler.Values;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Peeq.Cdc.Reconciler.Balances;

/// <summary>One query of a check, run in one source's snapshot or in one target's snapshot.</summary>
public sealed class CheckQuery
{
    /// <summary>A configured source name (the query runs in that source's watermark snapshot).</summary>
    public string? Source { get; set; }

    /// <summary>A configured target name (the query runs in the target snapshot).</summary>
    public string? Target { get; set; }

    /// <summary>
    /// What one unit of the query's value columns is worth, in the check's unit: 1 for major units,
    /// 0.01 for cents. Applied exactly (decimal arithmetic, no rounding).
    /// </summary>
    public string Unit { get; set; } = "1";

    /// <summary>Units of particular value columns, where they differ from <see cref="Unit"/> (e.g. amounts in cents beside a row count).</summary>
    public Dictionary<string, string> Units { get; set; } = [];

    /// <summary>
    /// Returns the key columns and the value columns, one row per group or per item (rows with the same
    /// key are added up). In target queries, <c>{lineage:schema.table}</c> names that table's lineage table.
    /// </summary>
    public string Sql { get; set; } = "";

    [YamlIgnore]
    public ExactDecimal UnitValue { get; set; } = new(1, 0);

    [YamlIgnore]
    public Dictionary<string, ExactDecimal> UnitValues { get; } = new(StringComparer.Ordinal);

    /// <summary>The unit of one value column.</summary>
    public ExactDecimal UnitOf(string column) => UnitValues.TryGetValue(column, out var u) ? u : UnitValue;

    [YamlIgnore]
    public string Side => Source is not null ? $"source {Source}" : $"target {Target}";
}

/// <summary>The same sums on the sources (added up across them) and on a target, compared per group.</summary>
public sealed class BalanceCheck
{
    public string Name { get; set; } = "";

    public string Title { get; set; } = "";

    public string Domain { get; set; } = "";

    public string? Description { get; set; }

    /// <summary>Columns that identify a group (returned first by every query).</summary>
    public List<string> Key { get; set; } = [];

    /// <summary>Columns whose sums are compared.</summary>
    public List<string> Values { get; set; } = [];

    public List<CheckQuery> Source { get; set; } = [];

    public CheckQuery Target { get; set; } = new();
}

/// <summary>An equality that must hold inside one database, checked on each side named (a wallet's balance against its transactions).</summary>
public sealed class InvariantCheck
{
    public string Name { get; set; } = "";

    public string Title { get; set; } = "";

    public string Domain { get; set; } = "";

    public string? Description { get; set; }

    public List<string> Key { get; set; } = [];

    /// <summary>The column holding one side of the equality.</summary>
    public string Left { get; set; } = "";

    /// <summary>The column holding the other side.</summary>
    public string Right { get; set; } = "";

    public List<CheckQuery> On { get; set; } = [];
}

/// <summary>reconcile/checks.yaml: what finance signs off, readable without reading C#.</summary>
public sealed class CheckFile
{
    public List<BalanceCheck> Balances { get; set; } = [];

    public List<InvariantCheck> Invariants { get; set; } = [];

    public static CheckFile Load(string path, PipelineOptions options)
    {
        if (!File.Exists(path))
        {
            throw new ConfigurationException($"{path}: the checks file does not exist");
        }

        CheckFile file;
        try
        {
            file = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build()
                .Deserialize<CheckFile>(File.ReadAllText(path)) ?? new CheckFile();
        }
        catch (YamlException e)
        {
            throw new ConfigurationException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}", e);
        }

        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        void Query(string check, CheckQuery q, string where)
        {
            if ((q.Source is null) == (q.Target is null))
            {
                errors.Add($"{path}: {check}: {where}: name exactly one of source or target");
            }
            else if (q.Source is not null && options.Sources.All(s => s.Name != q.Source))
            {
                errors.Add($"{path}: {check}: {where}: '{q.Source}' is not a configured source");
            }
            else if (q.Target is not null && options.Targets.All(t => t.Name != q.Target))
            {
                errors.Add($"{path}: {check}: {where}: '{q.Target}' is not a configured target");
            }

            if (string.IsNullOrWhiteSpace(q.Sql))
            {
                errors.Add($"{path}: {check}: {where}: sql is required");
            }

            if (!ExactDecimal.TryParse(q.Unit, out var unit) || unit.IsZero)
            {
                errors.Add($"{path}: {check}: {where}: unit '{q.Unit}' is not a non-zero decimal number");
            }
            else
            {
                q.UnitValue = unit;
            }

            foreach (var (column, text) in q.Units)
            {
                if (!ExactDecimal.TryParse(text, out var u) || u.IsZero)
                {
                    errors.Add($"{path}: {check}: {where}: units.{column}: '{text}' is not a non-zero decimal number");
                }
                else
                {
                    q.UnitValues[column] = u;
                }
            }
        }

        foreach (var b in file.Balances)
        {
            if (string.IsNullOrEmpty(b.Name) || !names.Add(b.Name))
            {
                errors.Add($"{path}: balance check '{b.Name}': a unique name is required");
            }

            if (b.Key.Count == 0 || b.Values.Count == 0)
            {
                errors.Add($"{path}: {b.Name}: key and values are required");
            }

            if (b.Source.Count == 0)
            {
                errors.Add($"{path}: {b.Name}: at least one source query is required");
            }

            for (var i = 0; i < b.Source.Count; i++)
            {
                Query(b.Name, b.Source[i], $"source[{i}]");
                if (b.Source[i].Target is not null)
                {
                    errors.Add($"{path}: {b.Name}: source[{i}] must name a source");
                }
            }

            Query(b.Name, b.Target, "target");
            if (b.Target.Source is not null)
            {
                errors.Add($"{path}: {b.Name}: target must name a target");
            }
        }

        foreach (var inv in file.Invariants)
        {
            if (string.IsNullOrEmpty(inv.Name) || !names.Add(inv.Name))
            {
                errors.Add($"{path}: invariant '{inv.Name}': a unique name is required");
            }

            if (inv.Key.Count == 0 || string.IsNullOrEmpty(inv.Left) || string.IsNullOrEmpty(inv.Right) || inv.On.Count == 0)
            {
                errors.Add($"{path}: {inv.Name}: key, left, right and on are required");
            }

            for (var i = 0; i < inv.On.Count; i++)
            {
                Query(inv.Name, inv.On[i], $"on[{i}]");
            }
        }

        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return file;
    }
}
