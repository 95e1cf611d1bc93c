namespace Peeq.Cdc.Configuration;

/// <summary>A loaded and validated configuration, with the file it came from (for error positions and relative paths).</summary>
public sealed record PipelineConfig(PipelineOptions Options, ConfigFile? File)
{
    /// <summary>Loads, binds and validates; throws <see cref="ConfigurationException"/> with every problem found.</summary>
    public static PipelineConfig Load(string path)
    {
        var file = ConfigFile.Load(path);
        var options = file.Bind();
        var errors = file.Errors.Concat(new PipelineOptionsValidator(file).Check(options)).ToList();
        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return new PipelineConfig(options, file);
    }

    /// <summary>Validates options built in code (demo, tests).</summary>
    public static PipelineConfig FromOptions(PipelineOptions options)
    {
        var errors = new PipelineOptionsValidator().Check(options);
        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return new PipelineConfig(options, null);
    }

    /// <summary>A path from the config file, resolved against the file's directory.</summary>
    public string Resolve(string relative) => File is null ? Path.GetFullPath(relative) : Path.GetFullPath(Path.Combine(File.Directory, relative));
}
