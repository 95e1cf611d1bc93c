using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>What an expression can see while it is checked: the source columns (and an exploded element) with their types.</summary>
public interface IScope
{
    /// <summary>The type of a column or alias, or null when there is none of that name.</summary>
    SqlType? TypeOf(string name);

    /// <summary>Names the scope offers, for "did you mean" hints.</summary>
    IEnumerable<string> Names { get; }
}

/// <summary>What an expression reads while it is evaluated.</summary>
public interface IRow
{
    Value Get(string name);
}

/// <summary>
/// A parsed mapping expression. <see cref="Check"/> resolves names and types once, at load (errors carry
/// the offset in the expression text); <see cref="Eval"/> then computes a value exactly, throwing
/// <see cref="MappingException"/> for a value that cannot be mapped (a lossy cast).
/// </summary>
public abstract class Expr(int offset)
{
    public int Offset { get; } = offset;

    /// <summary>The type, known after <see cref="Check"/>.</summary>
    public SqlType Type { get; protected set; } = SqlType.Null;

    public abstract SqlType Check(IScope scope);

    public abstract Value Eval(IRow row);

    /// <summary>Source columns (and aliases) this expression reads.</summary>
    public abstract void Columns(ISet<string> into);

    public IReadOnlySet<string> Columns()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        Columns(set);
        return set;
    }

    /// <summary>The expression as a readable string (for generated docs).</summary>
    public abstract override string ToString();

    protected static ExpressionException Error(int offset, string message) => new(message, offset);
}

public sealed class LiteralExpr(int offset, Value value, SqlType type) : Expr(offset)
{
    public Value Value { get; } = value;

    public override SqlType Check(IScope scope) => Type = type;

    public override Value Eval(IRow row) => Value;

    public override void Columns(ISet<string> into)
    {
    }

    public override string ToString() => Value switch
    {
        NullValue => "null",
        TextValue t => "'" + t.V.Replace("'", "''", StringComparison.Ordinal) + "'",
        BoolValue b => b.V ? "true" : "false",
        _ => Values.Describe(Value),
    };
}

public sealed class ColumnExpr(int offset, string name) : Expr(offset)
{
    public string Name { get; } = name;

    public override SqlType Check(IScope scope)
    {
        var t = scope.TypeOf(Name);
        if (t is null)
        {
            var hint = Closest(Name, scope.Names);
            throw Error(Offset, $"unknown column '{Name}'" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
        }

        return Type = t;
    }

    public override Value Eval(IRow row) => row.Get(Name);

    public override void Columns(ISet<string> into) => into.Add(Name);

    public override string ToString() => Name;

    internal static string? Closest(string name, IEnumerable<string> names)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var n in names)
        {
            var d = Distance(name, n);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = n;
            }
        }

        return bestDistance <= Math.Max(2, name.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }

        return d[a.Length, b.Length];
    }
}

public sealed class UnaryExpr(int offset, string op, Expr operand) : Expr(offset)
{
    public override SqlType Check(IScope scope)
    {
        var t = operand.Check(scope);
        if (op == "not")
        {
            if (t.Kind is not (SqlKind.Bool or SqlKind.Null))
            {
                throw Error(Offset, $"'not' needs a boolean, not {t}");
            }

            return Type = SqlType.Bool;
        }

        if (!t.IsNumber && t.Kind != SqlKind.Null)
        {
            throw Error(Offset, $"'-' needs a number, not {t}");
        }

        return Type = t;
    }

    public override Value Eval(IRow row)
    {
        var v = operand.Eval(row);
        return (op, v) switch
        {
            (_, NullValue) => Value.Null,
            ("not", BoolValue b) => new BoolValue(!b.V),
            ("-", IntValue i) => i.V == long.MinValue ? throw new MappingException("lossy cast: integer overflow negating " + i.V) : new IntValue(-i.V),
            ("-", DecimalValue d) => new DecimalValue(-d.V),
            _ => throw new MappingException($"cannot apply '{op}' to {Values.Describe(v)}"),
        };
    }

    public override void Columns(ISet<string> into) => operand.Columns(into);

    public override string ToString() => op == "not" ? $"not {operand}" : $"-{operand}";
}

public sealed class BinaryExpr(int offset, string op, Expr left, Expr right) : Expr(offset)
{
    public string Op { get; } = op;

    public override SqlType Check(IScope scope)
    {
        var l = left.Check(scope);
        var r = right.Check(scope);
        switch (Op)
        {
            case "and" or "or":
                if (l.Kind is not (SqlKind.Bool or SqlKind.Null) || r.Kind is not (SqlKind.Bool or SqlKind.Null))
                {
                    throw Error(Offset, $"'{Op}' needs booleans, not {l} and {r}");
                }

                return Type = SqlType.Bool;
            case "||":
                return Type = SqlType.Text;
            case "+" or "-" or "*":
                if (!(l.IsNumber || l.Kind == SqlKind.Null) || !(r.IsNumber || r.Kind == SqlKind.Null))
                {
                    throw Error(Offset, $"'{Op}' needs numbers, not {l} and {r}");
                }

                if (l.Kind is SqlKind.Float4 or SqlKind.Float8 || r.Kind is SqlKind.Float4 or SqlKind.Float8)
                {
                    throw Error(Offset, $"'{Op}' on floating-point values is not exact; the mapping language computes only with integers and numeric");
                }

                return Type = l.IsInteger && r.IsInteger ? SqlType.Int8 : SqlType.Numeric;
            default:
                if (!Comparable(l, r))
                {
                    throw Error(Offset, $"cannot compare {l} with {r}");
                }

                return Type = SqlType.Bool;
        }
    }

    private static bool Comparable(SqlType l, SqlType r) =>
        l.Kind == SqlKind.Null || r.Kind == SqlKind.Null
        || (l.IsNumber && r.IsNumber)
        || ((l.IsString || l.Kind == SqlKind.Uuid) && (r.IsString || r.Kind == SqlKind.Uuid))
        || l.Kind == r.Kind;

    public override Value Eval(IRow row)
    {
        if (Op == "and")
        {
            var a = left.Eval(row);
            if (a is BoolValue { V: false })
            {
                return a;
            }

            var b = right.Eval(row);
            return b is BoolValue { V: false } ? b : a.IsNull || b.IsNull ? Value.Null : new BoolValue(true);
        }

        if (Op == "or")
        {
            var a = left.Eval(row);
            if (a is BoolValue { V: true })
            {
                return a;
            }

            var b = right.Eval(row);
            return b is BoolValue { V: true } ? b : a.IsNull || b.IsNull ? Value.Null : new BoolValue(false);
        }

        var lv = left.Eval(row);
        var rv = right.Eval(row);
        if (lv.IsNull || rv.IsNull)
        {
            return Value.Null;
        }

        switch (Op)
        {
            case "||":
                return new TextValue(Functions.AsText(lv) + Functions.AsText(rv), SqlType.Text);
            case "+" or "-" or "*":
                return Arithmetic(lv, rv);
        }

        var c = Compare(lv, rv);
        return new BoolValue(Op switch
        {
            "=" => c == 0,
            "<>" or "!=" => c != 0,
            "<" => c < 0,
            "<=" => c <= 0,
            ">" => c > 0,
            ">=" => c >= 0,
            _ => throw new InvalidOperationException(Op),
        });
    }

    private Value Arithmetic(Value a, Value b)
    {
        if (a is IntValue x && b is IntValue y)
        {
            var r = Op switch
            {
                "+" => (BigInteger)x.V + y.V,
                "-" => (BigInteger)x.V - y.V,
                _ => (BigInteger)x.V * y.V,
            };
            return r < long.MinValue || r > long.MaxValue ? throw new MappingException($"lossy cast: {x.V} {Op} {y.V} overflows bigint") : new IntValue((long)r);
        }

        var p = Functions.AsDecimal(a);
        var q = Functions.AsDecimal(b);
        return new DecimalValue(Op switch
        {
            "+" => p + q,
            "-" => p - q,
            _ => p * q,
        });
    }

    internal static int Compare(Value a, Value b)
    {
        if (a is IntValue or DecimalValue && b is IntValue or DecimalValue)
        {
            return Functions.AsDecimal(a).CompareTo(Functions.AsDecimal(b));
        }

        if (a is BoolValue p && b is BoolValue q)
        {
            return p.V.CompareTo(q.V);
        }

        var sa = Functions.AsText(a);
        var sb = Functions.AsText(b);
        if (a is TextValue { Type.Kind: SqlKind.Uuid } || b is TextValue { Type.Kind: SqlKind.Uuid })
        {
            return string.Compare(sa, sb, StringComparison.OrdinalIgnoreCase);
        }

        return string.CompareOrdinal(sa, sb);
    }

    public override void Columns(ISet<string> into)
    {
        left.Columns(into);
        right.Columns(into);
    }

    public override string ToString() => $"{Paren(left)} {Op} {Paren(right)}";

    private static string Paren(Expr e) => e is BinaryExpr ? $"({e})" : e.ToString();
}

public sealed class IsNullExpr(int offset, Expr operand, bool negated) : Expr(offset)
{
    public override SqlType Check(IScope scope)
    {
        operand.Check(scope);
        return Type = SqlType.Bool;
    }

    public override Value Eval(IRow row) => new BoolValue(operand.Eval(row).IsNull != negated);

    public override void Columns(ISet<string> into) => operand.Columns(into);

    public override string ToString() => $"{operand} is {(negated ? "not " : "")}null";
}

public sealed class LikeExpr(int offset, Expr operand, Expr pattern, bool negated) : Expr(offset)
{
    public override SqlType Check(IScope scope)
    {
        var a = operand.Check(scope);
        var b = pattern.Check(scope);
        if (!(a.IsString || a.Kind == SqlKind.Null) || !(b.IsString || b.Kind == SqlKind.Null))
        {
            throw Error(Offset, $"'like' compares strings, not {a} and {b}");
        }

        return Type = SqlType.Bool;
    }

    public override Value Eval(IRow row)
    {
        var v = operand.Eval(row);
        var p = pattern.Eval(row);
        if (v.IsNull || p.IsNull)
        {
            return Value.Null;
        }

        var regex = "^" + string.Concat(Functions.AsText(p).Select(c => c switch
        {
            '%' => ".*",
            '_' => ".",
            _ => Regex.Escape(c.ToString()),
        })) + "$";
        return new BoolValue(Regex.IsMatch(Functions.AsText(v), regex, RegexOptions.Singleline, TimeSpan.FromSeconds(1)) != negated);
    }

    public override void Columns(ISet<string> into)
    {
        operand.Columns(into);
        pattern.Columns(into);
    }

    public override string ToString() => $"{operand} {(negated ? "not " : "")}like {pattern}";
}

public sealed class InExpr(int offset, Expr operand, IReadOnlyList<Expr> list, bool negated) : Expr(offset)
{
    public override SqlType Check(IScope scope)
    {
        var t = operand.Check(scope);
        foreach (var e in list)
        {
            var u = e.Check(scope);
            if (!(t.Kind == SqlKind.Null || u.Kind == SqlKind.Null || (t.IsNumber && u.IsNumber) || ((t.IsString || t.Kind == SqlKind.Uuid) && (u.IsString || u.Kind == SqlKind.Uuid)) || t.Kind == u.Kind))
            {
                throw Error(e.Offset, $"cannot compare {t} with {u}");
            }
        }

        return Type = SqlType.Bool;
    }

    public override Value Eval(IRow row)
    {
        var v = operand.Eval(row);
        if (v.IsNull)
        {
            return Value.Null;
        }

        var sawNull = false;
        foreach (var e in list)
        {
            var x = e.Eval(row);
            if (x.IsNull)
            {
                sawNull = true;
            }
            else if (BinaryExpr.Compare(v, x) == 0)
            {
                return new BoolValue(!negated);
            }
        }

        return sawNull ? Value.Null : new BoolValue(negated);
    }

    public override void Columns(ISet<string> into)
    {
        operand.Columns(into);
        foreach (var e in list)
        {
            e.Columns(into);
        }
    }

    public override string ToString() => $"{operand} {(negated ? "not " : "")}in ({string.Join(", ", list)})";
}

public sealed class CaseExpr(int offset, Expr? operand, IReadOnlyList<(Expr When, Expr Then)> whens, Expr? otherwise) : Expr(offset)
{
    public override SqlType Check(IScope scope)
    {
        var operandType = operand?.Check(scope);
        SqlType? result = null;
        foreach (var (when, then) in whens)
        {
            var w = when.Check(scope);
            if (operandType is null && w.Kind is not (SqlKind.Bool or SqlKind.Null))
            {
                throw Error(when.Offset, $"'when' needs a condition (boolean), not {w}");
            }

            result = Functions.Unify(result, then.Check(scope), then.Offset);
        }

        if (otherwise is not null)
        {
            result = Functions.Unify(result, otherwise.Check(scope), otherwise.Offset);
        }

        return Type = result ?? SqlType.Null;
    }

    public override Value Eval(IRow row)
    {
        var subject = operand?.Eval(row);
        foreach (var (when, then) in whens)
        {
            var w = when.Eval(row);
            var hit = subject is null
                ? w is BoolValue { V: true }
                : !subject.IsNull && !w.IsNull && BinaryExpr.Compare(subject, w) == 0;
            if (hit)
            {
                return Functions.Coerce(then.Eval(row), Type);
            }
        }

        return otherwise is null ? Value.Null : Functions.Coerce(otherwise.Eval(row), Type);
    }

    public override void Columns(ISet<string> into)
    {
        operand?.Columns(into);
        foreach (var (w, t) in whens)
        {
            w.Columns(into);
            t.Columns(into);
        }

        otherwise?.Columns(into);
    }

    public override string ToString()
    {
        var sb = new StringBuilder("case");
        if (operand is not null)
        {
            sb.Append(' ').Append(operand);
        }

        foreach (var (w, t) in whens)
        {
            sb.Append(" when ").Append(w).Append(" then ").Append(t);
        }

        if (otherwise is not null)
        {
            sb.Append(" else ").Append(otherwise);
        }

        return sb.Append(" end").ToString();
    }
}

public sealed class CallExpr(int offset, string name, IReadOnlyList<Expr> args) : Expr(offset)
{
    private IFunction? _function;

    public string Name { get; } = name;

    public IReadOnlyList<Expr> Args { get; } = args;

    public override SqlType Check(IScope scope)
    {
        _function = Functions.Find(Name) ?? throw Error(Offset, $"unknown function '{Name}' (functions: {string.Join(", ", Functions.Names)})");
        var types = Args.Select(a => a.Check(scope)).ToList();
        try
        {
            return Type = _function.Check(Args, types);
        }
        catch (ExpressionException)
        {
            throw;
        }
        catch (ArgumentException e)
        {
            throw Error(Offset, $"{Name}(): {e.Message}");
        }
    }

    public override Value Eval(IRow row) => _function!.Invoke(Args, row);

    public override void Columns(ISet<string> into)
    {
        foreach (var a in Args)
        {
            a.Columns(into);
        }
    }

    public override string ToString() => $"{Name}({string.Join(", ", Args)})";
}
