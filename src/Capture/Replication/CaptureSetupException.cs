namespace Peeq.Cdc.Capture.Replication;

/// <summary>
/// A source cannot be captured until someone changes something (a setting, a privilege, a missing
/// table, a lost slot). The message says what and how; the source stops, the others keep flowing.
/// </summary>
public sealed class CaptureSetupException(string message, Exception? inner = null) : Exception(message, inner);
