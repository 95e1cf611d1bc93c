namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>Files of the repository the tests read directly (the schemas as committed).</summary>
public static class RepoFiles
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Peeq.Cdc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"the repository root (with Peeq.Cdc.sln) is not above {AppContext.BaseDirectory}");
    }
}
