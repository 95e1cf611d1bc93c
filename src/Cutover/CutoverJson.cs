using System.Text.Json;
using System.Text.Json.Serialization;

namespace Peeq.Cdc.Cutover;

/// <summary>How the cutover writes JSON (the report, step details): camelCase, indented, enums as text.</summary>
public static class CutoverJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}

/// <summary>The cutover was refused: a precondition does not hold. The message says which; nothing was changed that was not undone.</summary>
public sealed class CutoverRefusedException(string message) : Exception(message);
