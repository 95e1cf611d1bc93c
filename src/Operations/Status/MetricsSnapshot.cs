using System.Globalization;
using System.Text;

namespace Peeq.Cdc.Operations.Status;

/// <summary>One sample of the Prometheus text exposition format: a name, its labels and a value.</summary>
public sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string? Label(string name) => Labels.TryGetValue(name, out var v) ? v : null;
}

/// <summary>
/// Every sample read from one or more /metrics pages (or from this process's own registry, rendered in the
/// same format), with the few queries the status needs. The dashboard's figures are computed from these
/// samples exactly as a Prometheus query over the same page would compute them.
/// </summary>
public sealed class MetricsSnapshot
{
    public static readonly MetricsSnapshot Empty = new([], []);

    private readonly ILookup<string, MetricSample> _byName;

    public MetricsSnapshot(IReadOnlyList<MetricSample> samples, IReadOnlyList<string> problems)
    {
        Samples = samples;
        Problems = problems;
        _byName = samples.ToLookup(s => s.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<MetricSample> Samples { get; }

    /// <summary>Pages that could not be read (URL and reason).</summary>
    public IReadOnlyList<string> Problems { get; }

    public bool IsEmpty => Samples.Count == 0;

    public bool Has(string name) => _byName.Contains(name);

    public IEnumerable<MetricSample> Where(string name, params (string Label, string Value)[] match) =>
        _byName[name].Where(s => match.All(m => s.Label(m.Label) == m.Value));

    /// <summary>Sum over the matching series, or null when no series matches (absent is not zero).</summary>
    public double? Sum(string name, params (string Label, string Value)[] match)
    {
        double? sum = null;
        foreach (var s in Where(name, match))
        {
            sum = (sum ?? 0) + s.Value;
        }

        return sum;
    }

    /// <summary>Largest value over the matching series, or null.</summary>
    public double? Max(string name, params (string Label, string Value)[] match)
    {
        double? max = null;
        foreach (var s in Where(name, match))
        {
            max = max is null ? s.Value : Math.Max(max.Value, s.Value);
        }

        return max;
    }

    /// <summary>A histogram's cumulative buckets (le → count), summed over the matching series.</summary>
    public SortedDictionary<double, double> Buckets(string histogram, params (string Label, string Value)[] match)
    {
        var result = new SortedDictionary<double, double>();
        foreach (var s in Where(histogram + "_bucket", match))
        {
            var le = ParseValue(s.Label("le") ?? "+Inf");
            result[le] = result.TryGetValue(le, out var c) ? c + s.Value : s.Value;
        }

        return result;
    }

    /// <summary>
    /// The φ-quantile of a histogram's bucket counts, interpolated linearly within the bucket as
    /// Prometheus' histogram_quantile does; null when there are no observations.
    /// </summary>
    public static double? Quantile(double q, SortedDictionary<double, double> cumulative)
    {
        if (cumulative.Count == 0)
        {
            return null;
        }

        var total = cumulative.Last().Value;
        if (total <= 0)
        {
            return null;
        }

        var rank = q * total;
        var lowerBound = 0.0;
        var lowerCount = 0.0;
        foreach (var (le, count) in cumulative)
        {
            if (count >= rank)
            {
                if (double.IsPositiveInfinity(le))
                {
                    return lowerBound; // as Prometheus: the highest finite bound
                }

                var inBucket = count - lowerCount;
                return inBucket <= 0 ? le : lowerBound + (le - lowerBound) * ((rank - lowerCount) / inBucket);
            }

            lowerBound = le;
            lowerCount = count;
        }

        return lowerBound;
    }

    /// <summary>Bucket counts observed between two snapshots (a window), clamped at zero after a restart.</summary>
    public static SortedDictionary<double, double> Delta(SortedDictionary<double, double> now, SortedDictionary<double, double> before)
    {
        var d = new SortedDictionary<double, double>();
        foreach (var (le, c) in now)
        {
            var prev = before.TryGetValue(le, out var p) ? p : 0;
            d[le] = c >= prev ? c - prev : c;
        }

        return d;
    }

    /// <summary>Parses the Prometheus text exposition format (version 0.0.4).</summary>
    public static List<MetricSample> Parse(string text)
    {
        var samples = new List<MetricSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var i = 0;
            while (i < line.Length && line[i] != '{' && line[i] != ' ')
            {
                i++;
            }

            var name = line[..i];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (i < line.Length && line[i] == '{')
            {
                i++;
                while (i < line.Length && line[i] != '}')
                {
                    var eq = line.IndexOf('=', i);
                    if (eq < 0)
                    {
                        throw new FormatException($"bad label in metrics line: {line}");
                    }

                    var label = line[i..eq].Trim().TrimStart(',').Trim();
                    i = eq + 1;
                    if (line[i] != '"')
                    {
                        throw new FormatException($"unquoted label value in metrics line: {line}");
                    }

                    i++;
                    var value = new StringBuilder();
                    while (line[i] != '"')
                    {
                        if (line[i] == '\\' && i + 1 < line.Length)
                        {
                            i++;
                            value.Append(line[i] switch { 'n' => '\n', _ => line[i] });
                        }
                        else
                        {
                            value.Append(line[i]);
                        }

                        i++;
                    }

                    i++; // closing quote
                    labels[label] = value.ToString();
                    while (i < line.Length && (line[i] == ',' || line[i] == ' '))
                    {
                        i++;
                    }
                }

                i++; // '}'
            }

            var rest = line[i..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 0)
            {
                throw new FormatException($"no value in metrics line: {line}");
            }

            samples.Add(new MetricSample(name, labels, ParseValue(rest[0])));
        }

        return samples;
    }

    public static double ParseValue(string text) => text switch
    {
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
