using System.CommandLine;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Mapping.Declarative;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>mappings doc</c> (docs/mappings.md from the mapping files) and <c>mappings check</c> (against the live catalogs).</summary>
public static class MappingsCommand
{
    public static Command Create()
    {
        var dir = new Option<DirectoryInfo>("--dir") { Description = "Folder of the mapping files", DefaultValueFactory = _ => new DirectoryInfo("mappings") };
        var outFile = new Option<FileInfo?>("--out") { Description = "Where to write the page (default: standard output)" };
        var doc = new Command("doc", "Generate docs/mappings.md from the mapping files") { dir, outFile };
        doc.SetAction(parse =>
        {
            var folder = parse.GetValue(dir)!;
            var text = MappingDoc.Generate(MappingDoc.LoadFolder(folder.FullName, folder.ToString()));
            if (parse.GetValue(outFile) is { } f)
            {
                File.WriteAllText(f.FullName, text);
                Console.Error.WriteLine($"wrote {f}");
            }
            else
            {
                Console.Out.Write(text);
            }

            return 0;
        });

        var config = CliOptions.Config();
        var check = new Command("check", "Check every target's mapping file against the live source and target catalogs") { config };
        check.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            var problems = new List<string>();
            foreach (var t in pipeline.Options.Targets.Where(t => !t.IsIdentity))
            {
                try
                {
                    var (mapping, result) = await MappingLoader.BindAsync(pipeline, t, ct);
                    foreach (var w in result.Warnings)
                    {
                        Console.Error.WriteLine($"warning: {w}");
                    }

                    Console.WriteLine($"{t.Mapping}: ok (target '{t.Name}', {mapping.Routes.Count()} source → target routes, {mapping.File.Excludes.Count} excluded tables)");
                }
                catch (MappingFileException e)
                {
                    problems.AddRange(e.Problems);
                }
            }

            if (problems.Count > 0)
            {
                throw new ConfigurationException(string.Join(Environment.NewLine, problems));
            }

            return 0;
        });
        return new Command("mappings", "Mapping files: generate their documentation, check them against the databases") { doc, check };
    }
}
