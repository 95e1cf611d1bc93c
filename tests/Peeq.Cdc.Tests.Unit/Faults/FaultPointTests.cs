using Peeq.Cdc.Faults;

namespace Peeq.Cdc.Tests.Unit.Faults;

public sealed class FaultPointTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void unset_or_empty_disarms(string? value) => Assert.Null(FaultPoint.Parse(value));

    [Fact]
    public void point_alone_fires_on_its_first_hit_and_a_count_on_that_hit()
    {
        Assert.Equal((FaultPoint.SinkAfterTargetCommit, 1), FaultPoint.Parse(FaultPoint.SinkAfterTargetCommit));
        Assert.Equal((FaultPoint.CaptureBeforeConfirm, 7), FaultPoint.Parse(FaultPoint.CaptureBeforeConfirm + ":7"));
    }

    [Theory]
    [InlineData("sink-after-commit")]
    [InlineData("sink-after-target-commit:0")]
    [InlineData("sink-after-target-commit:-1")]
    [InlineData("sink-after-target-commit:x")]
    [InlineData("sink-after-target-commit:1:2")]
    public void a_typo_is_an_error_naming_the_points_not_a_silently_disarmed_hook(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => FaultPoint.Parse(value));
        Assert.Contains(FaultPoint.CaptureAfterSnapshotChunk, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void every_point_is_reached_somewhere_in_the_workers()
    {
        var src = Path.Combine(RepoRoot(), "src");
        var code = string.Join("\n", Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("FaultPoint.cs", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Select(File.ReadAllText));
        foreach (var name in new[] { "CaptureBeforeConfirm", "CaptureAfterSnapshotChunk", "TransformBeforeOffsetCommit", "SinkBeforeTargetCommit", "SinkAfterTargetCommit" })
        {
            Assert.Contains($"FaultPoint.Reached(Faults.FaultPoint.{name})", code, StringComparison.Ordinal);
        }

        Assert.Equal(5, FaultPoint.All.Count);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Peeq.Cdc.sln")))
        {
            dir = dir.Parent;
        }

        return dir!.FullName;
    }
}
