using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Configuration;

/// <summary>
/// Loads the pipeline's YAML configuration with positions kept, so every error can say
/// <c>file:line: key: what is wrong</c>. Unknown keys and values of the wrong type are rejected
/// here, before binding; <c>${NAME}</c> references are replaced from the environment.
/// </summary>
public sealed partial class ConfigFile
{
    private readonly Dictionary<string, (int Line, int Column)> _positions = new(StringComparer.OrdinalIgnoreCase);

    private ConfigFile(string path, string displayPath, IReadOnlyDictionary<string, string?> values)
    {
        Path = path;
        DisplayPath = displayPath;
        Values = values;
    }

    /// <summary>The path as the operator gave it, for messages.</summary>
    public string DisplayPath { get; }

    private readonly List<string> _errors = [];

    /// <summary>
    /// Problems found while reading (unknown keys, values of the wrong type, missing environment
    /// variables). Offending values are left out, so binding and validation can still report
    /// everything else that is wrong in the same run.
    /// </summary>
    public IReadOnlyList<string> Errors => _errors;

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>Directory that relative paths in the file (mapping files) are resolved against.</summary>
    public string Directory => System.IO.Path.GetDirectoryName(Path) ?? ".";

    /// <summary>The flattened values, keyed as IConfiguration keys them (<c>sources:0:name</c>).</summary>
    public IReadOnlyDictionary<string, string?> Values { get; }

    public static ConfigFile Load(string path, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new ConfigurationException($"{path}: the configuration file does not exist");
        }

        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(full);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new ConfigurationException($"{path}:{e.Start.Line}: not valid YAML: {e.InnerException?.Message ?? e.Message}", e);
        }

        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var file = new ConfigFile(full, path, values);
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ConfigurationException($"{path}: the file must hold a YAML mapping (kafka:, sources:, targets:)");
        }

        file.Walk(root, "", typeof(PipelineOptions), values, file._errors, environment);
        return file;
    }

    /// <summary>Binds the file (and <c>PEEQCDC__</c> environment overrides) onto <see cref="PipelineOptions"/>.</summary>
    public PipelineOptions Bind()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(Values)
            .AddEnvironmentVariables("PEEQCDC__")
            .Build();
        var options = new PipelineOptions();
        try
        {
            configuration.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigurationException($"{DisplayPath}: {e.Message}", e);
        }

        return options;
    }

    /// <summary>Where a key (IConfiguration form, or the dotted display form) is in the file, as <c>file:line</c>.</summary>
    public string Where(string key)
    {
        var k = ToConfigKey(key);
        return _positions.TryGetValue(k, out var p) ? $"{DisplayPath}:{p.Line}" : DisplayPath;
    }

    /// <summary><c>sources[0].tables[2]</c> from <c>sources:0:tables:2</c>.</summary>
    public static string Display(string configKey)
    {
        var parts = configKey.Split(':');
        var sb = new System.Text.StringBuilder();
        foreach (var p in parts)
        {
            if (p.Length > 0 && p.All(char.IsAsciiDigit))
            {
                sb.Append('[').Append(p).Append(']');
            }
            else
            {
                if (sb.Length > 0)
                {
                    sb.Append('.');
                }

                sb.Append(p);
            }
        }

        return sb.ToString();
    }

    private static string ToConfigKey(string key) =>
        key.Replace("[", ":", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal).Replace('.', ':');

    private void Walk(YamlNode node, string prefix, Type? type, Dictionary<string, string?> values, List<string> errors, Func<string, string?> env)
    {
        _positions[prefix] = ((int)node.Start.Line, (int)node.Start.Column);
        string At() => $"{DisplayPath}:{node.Start.Line}";
        switch (node)
        {
            case YamlMappingNode map:
                if (type is not null && (IsScalar(type) || IsList(type, out _)))
                {
                    errors.Add($"{At()}: {Display(prefix)}: expected {Describe(type)}, found a mapping");
                    return;
                }

                foreach (var (k, v) in map.Children)
                {
                    var name = ((YamlScalarNode)k).Value ?? "";
                    var key = prefix.Length == 0 ? name : prefix + ":" + name;
                    Type? childType = null;
                    if (type is not null && IsDictionary(type, out var valueType))
                    {
                        childType = valueType;
                    }
                    else if (type is not null)
                    {
                        var prop = type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
                        if (prop is null || !prop.CanWrite && !IsList(prop.PropertyType, out _) && !IsDictionary(prop.PropertyType, out _) && IsScalar(prop.PropertyType))
                        {
                            _positions[key] = ((int)k.Start.Line, (int)k.Start.Column);
                            var known = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => Camel(p.Name)).ToArray();
                            var hint = Closest(name, known);
                            errors.Add($"{DisplayPath}:{k.Start.Line}: {Display(key)}: unknown setting"
                                + (hint is null ? "" : $" (did you mean '{hint}'?)")
                                + $"; known here: {string.Join(", ", known)}");
                            continue;
                        }

                        childType = prop.PropertyType;
                    }

                    Walk(v, key, childType, values, errors, env);
                }

                break;
            case YamlSequenceNode seq:
                if (type is not null && !IsList(type, out _))
                {
                    errors.Add($"{At()}: {Display(prefix)}: expected {Describe(type)}, found a list");
                    return;
                }

                Type? elementType = null;
                if (type is not null)
                {
                    IsList(type, out elementType);
                }

                var i = 0;
                foreach (var item in seq.Children)
                {
                    Walk(item, $"{prefix}:{i++}", elementType, values, errors, env);
                }

                break;
            case YamlScalarNode scalar:
                var text = scalar.Value;
                if (scalar.Style == ScalarStyle.Plain && text is "~" or "null" or "")
                {
                    text = null;
                }

                if (text is not null)
                {
                    text = ExpandEnvironment(text, prefix, At, env, errors);
                }

                if (type is not null && !IsScalar(type))
                {
                    if (text is null)
                    {
                        return;
                    }

                    errors.Add($"{At()}: {Display(prefix)}: expected {Describe(type)}, found the value '{text}'");
                    return;
                }

                if (type is not null && text is not null && !CanConvert(type, text))
                {
                    errors.Add($"{At()}: {Display(prefix)}: '{text}' is not {Describe(type)}");
                    return;
                }

                values[prefix] = text;
                break;
        }
    }

    private static string ExpandEnvironment(string text, string key, Func<string> at, Func<string, string?> env, List<string> errors) =>
        EnvReference().Replace(text, m =>
        {
            var name = m.Groups[1].Value;
            var value = env(name);
            if (value is null)
            {
                errors.Add($"{at()}: {Display(key)}: environment variable '{name}' is not set");
                return "";
            }

            return value;
        });

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex EnvReference();

    private static bool IsScalar(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(decimal) || t == typeof(Uri);
    }

    private static bool IsList(Type t, out Type? element)
    {
        element = null;
        if (t == typeof(string))
        {
            return false;
        }

        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>))
        {
            element = t.GetGenericArguments()[0];
            return true;
        }

        return false;
    }

    private static bool IsDictionary(Type t, out Type? value)
    {
        value = null;
        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            value = t.GetGenericArguments()[1];
            return true;
        }

        return false;
    }

    private static bool CanConvert(Type t, string text)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(string))
        {
            return true;
        }

        if (t == typeof(TimeSpan))
        {
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out _);
        }

        try
        {
            var converter = TypeDescriptor.GetConverter(t);
            converter.ConvertFromInvariantString(text);
            return true;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException)
        {
            return false;
        }
    }

    private static string Describe(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(TimeSpan))
        {
            return "a duration (hh:mm:ss, e.g. 00:00:05)";
        }

        if (t == typeof(bool))
        {
            return "true or false";
        }

        if (t == typeof(int) || t == typeof(long))
        {
            return "a whole number";
        }

        if (IsList(t, out _))
        {
            return "a list";
        }

        if (typeof(IEnumerable).IsAssignableFrom(t) && t != typeof(string))
        {
            return "a mapping";
        }

        return t == typeof(string) ? "a string" : "a mapping";
    }

    private static string Camel(string s) => char.ToLowerInvariant(s[0]) + s[1..];

    /// <summary>The candidate closest to <paramref name="name"/> by edit distance, if close enough to be a typo.</summary>
    public static string? Closest(string name, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            var d = Levenshtein(name.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance)
            {
                bestDistance = d;
                best = c;
            }
        }

        return bestDistance <= Math.Max(2, name.Length / 3) ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
            }
        }

        return d[a.Length, b.Length];
    }
}
