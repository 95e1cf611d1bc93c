namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>Waiting for a condition (never a timed assertion: the deadline only bounds a hang), and where the repository is.</summary>
public static class Wait
{
    public static async Task ForAsync(Func<bool> condition, string what, int seconds = 30) =>
        await ForAsync(() => Task.FromResult(condition()), what, seconds);

    public static async Task ForAsync(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"timed out waiting for {what}");
    }

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Peeq.Cdc.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
