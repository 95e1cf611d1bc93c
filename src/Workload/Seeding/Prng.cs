using System.Text;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>
/// A small, fixed pseudo-random generator (SplitMix64). Every entity and row gets its own stream,
/// derived from (seed, kind, index), so a value depends only on what it describes: not on the order
/// tables are loaded in, on parallelism, or on how many values other rows drew. The algorithm is
/// written out here (not System.Random) so the data cannot change with a runtime upgrade.
/// </summary>
public struct Prng
{
    private ulong _state;

    public Prng(ulong state) => _state = state;

    /// <summary>The stream of entity <paramref name="index"/> of <paramref name="kind"/> under <paramref name="seed"/>.</summary>
    public static Prng For(long seed, ulong kind, long index) => new(Mix(Mix((ulong)seed ^ kind) + (ulong)index * 0xD1B54A32D192ED03UL));

    public static Prng For(long seed, string kind, long index) => For(seed, Kind(kind), index);

    /// <summary>FNV-1a of a kind name: a stable 64-bit tag.</summary>
    public static ulong Kind(string kind)
    {
        var h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(kind))
        {
            h = (h ^ b) * 1099511628211UL;
        }

        return h;
    }

    public ulong Next()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Int(int n) => n <= 0 ? 0 : (int)(((Next() >> 32) * (ulong)n) >> 32);

    /// <summary>Uniform in [min, max] (inclusive).</summary>
    public int Int(int min, int max) => min + Int(max - min + 1);

    public long Long(long n) => n <= 0 ? 0 : (long)(Next() % (ulong)n);

    /// <summary>Uniform in [0, 1).</summary>
    public double Double() => (Next() >> 11) * (1.0 / (1UL << 53));

    public bool Chance(double p) => Double() < p;

    public T Pick<T>(IReadOnlyList<T> items) => items[Int(items.Count)];

    /// <summary>A version-4-shaped UUID drawn from this stream.</summary>
    public Guid Uuid()
    {
        var a = Next();
        var b = Next();
        return new Guid((int)(a >> 32), (short)(a >> 16), (short)((a & 0x0FFF) | 0x4000),
            (byte)(((b >> 56) & 0x3F) | 0x80), (byte)(b >> 48), (byte)(b >> 40), (byte)(b >> 32), (byte)(b >> 24), (byte)(b >> 16), (byte)(b >> 8), (byte)b);
    }

    /// <summary>Lower-case hex of <paramref name="bytes"/> random bytes.</summary>
    public string Hex(int bytes)
    {
        var buffer = new byte[bytes];
        Fill(buffer);
        return Convert.ToHexStringLower(buffer);
    }

    public void Fill(Span<byte> buffer)
    {
        var i = 0;
        while (i < buffer.Length)
        {
            var v = Next();
            for (var k = 0; k < 8 && i < buffer.Length; k++, i++)
            {
                buffer[i] = (byte)(v >> (8 * k));
            }
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
