using System.Text.RegularExpressions;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>The Dockerfile, checked without a Docker engine: pinned bases, what it copies exists, a non-root runtime.</summary>
public sealed class DockerfileTests
{
    private static readonly string[] Lines = File.ReadAllLines(Repository.Path("Dockerfile"));

    [Fact]
    public void base_images_are_pinned_and_the_runtime_is_aspnet_as_a_non_root_user()
    {
        var froms = Lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, froms.Count);
        Assert.All(froms, f => Assert.Matches(@"^FROM \S+:\d+\.\d+\.\d+ AS \w+$", f));
        Assert.Contains("dotnet/sdk", froms[0], StringComparison.Ordinal);
        Assert.Contains("dotnet/aspnet", froms[1], StringComparison.Ordinal);
        var user = Lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.Matches(@"^USER [1-9]\d*:[1-9]\d*$", user);
        Assert.Contains(Lines, l => l == "ENTRYPOINT [\"peeq-cdc\"]");
    }

    [Fact]
    public void everything_it_copies_from_the_build_context_exists_and_is_not_ignored()
    {
        var ignored = File.ReadAllLines(Repository.Path(".dockerignore")).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        foreach (var line in Lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal)))
        {
            var parts = Regex.Split(line.Trim(), @"\s+");
            foreach (var source in parts[1..^1])
            {
                var path = Repository.Path(source.TrimEnd('/'));
                Assert.True(File.Exists(path) || Directory.Exists(path), $"the Dockerfile copies {source}, which does not exist");
                Assert.DoesNotContain(source.TrimEnd('/') + "/", ignored);
            }
        }

        Assert.Contains(Lines, l => l.Contains("dotnet publish src/Cli/Peeq.Cdc.Cli.csproj", StringComparison.Ordinal));
    }
}
