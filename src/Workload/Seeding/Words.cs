using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>Name and word pools, and the text values built from them (ASCII unless asked for unicode).</summary>
public static class Words
{
    public static readonly string[] FirstNames =
    [
        "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara",
        "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chris", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony",
        "Betty", "Mark", "Sandra", "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily", "Kevin", "Donna", "Brian", "Michelle",
        "Tyler", "Megan", "Jordan", "Serena", "LeBron", "Simone", "Tom", "Megan", "Kobe", "Venus", "Shaq", "Abby",
    ];

    public static readonly string[] LastNames =
    [
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez",
        "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
        "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
        "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    ];

    /// <summary>Accents, CJK, Hangul, Arabic and Hebrew (right to left), combining marks, emoji (astral plane).</summary>
    public static readonly (string First, string Last, string Suffix)[] UnicodeNames =
    [
        ("José", "Muñoz", ""), ("Zoë", "Brontë", ""), ("Søren", "Kierkegård", ""), ("Łukasz", "Żółkiewski", ""), ("François", "Lefèvre", ""),
        ("Ngọc", "Trần", ""), ("Çağla", "Öztürk", ""), ("Ævar", "Þórsson", ""), ("伟", "王", ""), ("花子", "佐藤", ""), ("民俊", "김", ""),
        ("محمد", "الأحمد", ""), ("דוד", "כהן", ""), ("Renée", "Dubois", " ⚽"), ("Björn", "Ångström", " 🏀"), ("Ana", "Ñáñez", " 🎾"),
        ("Kai", "Nakamura", " 🏄‍♂️"), ("Amélie", "Poulain", " 🎬"), ("Noe\u0301mie", "Laurent", ""), ("Олег", "Иванов", ""),
    ];

    public static readonly string[] Nouns =
    [
        "training", "session", "workout", "masterclass", "clinic", "q-and-a", "behind-the-scenes", "highlights", "warmup", "drills",
        "shootaround", "recovery", "nutrition", "mindset", "playbook", "camp", "tryout", "scrimmage", "keynote", "meetup", "replay",
        "interview", "tutorial", "challenge", "bootcamp", "fundamentals", "footwork", "serve", "swing", "strategy",
    ];

    public static readonly string[] Adjectives =
    [
        "advanced", "beginner", "elite", "weekly", "exclusive", "live", "private", "summer", "winter", "pro", "youth", "daily",
        "ultimate", "signature", "team", "solo", "virtual", "onsite", "bonus", "classic",
    ];

    public static readonly string[] Sports = ["basketball", "soccer", "tennis", "golf", "swimming", "gymnastics", "baseball", "football", "hockey", "volleyball", "track", "surfing"];

    public static string Title(ref Prng r) =>
        $"{Capitalize(r.Pick(Adjectives))} {r.Pick(Sports)} {r.Pick(Nouns)}";

    public static string Sentence(ref Prng r, int words)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < words; i++)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            sb.Append((i % 3) switch { 0 => r.Pick(Adjectives), 1 => r.Pick(Sports), _ => r.Pick(Nouns) });
        }

        sb.Append('.');
        sb[0] = char.ToUpperInvariant(sb[0]);
        return sb.ToString();
    }

    public static string Slug(ref Prng r) => $"{r.Pick(Adjectives)}-{r.Pick(Nouns)}";

    public static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    /// <summary>Base 36 of a non-negative number (short, unique ids inside names).</summary>
    public static string Base36(long n)
    {
        const string digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        if (n == 0)
        {
            return "0";
        }

        var sb = new StringBuilder();
        while (n > 0)
        {
            sb.Insert(0, digits[(int)(n % 36)]);
            n /= 36;
        }

        return sb.ToString();
    }

    public static bool IsAscii(string? s) => s is null || s.All(c => c < 128);

    /// <summary>
    /// Incompressible text of about <paramref name="bytes"/> × 4/3 characters (base64 of random bytes):
    /// pglz finds nothing to compress, so a jsonb holding it is stored out of line in TOAST.
    /// </summary>
    public static string Incompressible(ref Prng r, int bytes)
    {
        var buffer = new byte[bytes];
        r.Fill(buffer);
        return Convert.ToBase64String(buffer);
    }
}

/// <summary>Builds small JSON documents (real unicode, not \u escapes).</summary>
public static class Json
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _buffer;

    public static string Object(Action<Utf8JsonWriter> body)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string Array(IEnumerable<string> values)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartArray();
            foreach (var v in values)
            {
                w.WriteStringValue(v);
            }

            w.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
