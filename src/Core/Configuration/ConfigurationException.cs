namespace Peeq.Cdc.Configuration;

/// <summary>
/// A configuration problem the operator must fix. The message names the file, the key and what is
/// wrong, and is printed as it is (no stack trace).
/// </summary>
public sealed class ConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
