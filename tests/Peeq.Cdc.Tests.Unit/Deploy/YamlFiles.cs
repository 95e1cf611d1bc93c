using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>Reading YAML the way docker compose and Helm do, as far as the checks need.</summary>
public static class YamlFiles
{
    public static YamlMappingNode LoadMapping(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return Assert.IsType<YamlMappingNode>(stream.Documents.Single().RootNode);
    }

    /// <summary>All documents of a (multi-document) YAML text; throws on malformed YAML.</summary>
    public static IReadOnlyList<YamlDocument> LoadAll(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return [.. stream.Documents];
    }

    /// <summary>A mapping with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied, as compose reads it.</summary>
    public static Dictionary<string, YamlNode> Effective(YamlMappingNode map)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Children)
        {
            if (((YamlScalarNode)k).Value == "<<")
            {
                var sources = v is YamlSequenceNode seq ? seq.Children : [v];
                foreach (var s in sources.OfType<YamlMappingNode>())
                {
                    foreach (var (mk, mv) in Effective(s))
                    {
                        result.TryAdd(mk, mv);
                    }
                }
            }
        }

        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlScalarNode)k).Value!;
            if (key != "<<")
            {
                result[key] = v;
            }
        }

        return result;
    }

    public static string? Scalar(this Dictionary<string, YamlNode> map, string key) =>
        map.TryGetValue(key, out var v) && v is YamlScalarNode s ? s.Value : null;
}
