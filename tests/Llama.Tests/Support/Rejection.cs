namespace LoRAM.Llama.Tests.Support;

/// <summary>
/// What every reader owes a person who hands it a bad file: a prompt refusal (never a hang), by the one exception type
/// the CLI turns into exit code 2, with a one-line message naming the file and the item at fault. Anything else —
/// an IndexOutOfRange, an Overflow, a JsonException leaking out — is a reader bug and fails the test with its stack.
/// </summary>
public static class Rejection
{
    /// <summary>Longest a reader may take to refuse a small corrupt file; far above the few milliseconds it needs.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>Runs <paramref name="read"/>, which must throw <typeparamref name="TException"/> whose message is one line
    /// and contains every string in <paramref name="mentions"/> (the file first). Returns the message.</summary>
    public static string Expect<TException>(Action read, params string[] mentions) where TException : Exception
    {
        var error = Run(read) ?? throw new Xunit.Sdk.XunitException("the corrupt input was accepted");
        if (error is not TException)
            throw new Xunit.Sdk.XunitException($"expected {typeof(TException).Name}, got {error}");
        AssertOneLine(error.Message);
        foreach (var m in mentions) Assert.Contains(m, error.Message);
        return error.Message;
    }

    /// <summary>For corruptions that may happen to leave a valid file (a flipped bit in a name): <paramref name="read"/>
    /// either succeeds or fails as <see cref="Expect{TException}"/> demands. Returns true when it was rejected.</summary>
    public static bool AcceptOrReject<TException>(Action read, params string[] mentions) where TException : Exception
    {
        var error = Run(read);
        if (error is null) return false;
        if (error is not TException)
            throw new Xunit.Sdk.XunitException($"expected success or {typeof(TException).Name}, got {error}");
        AssertOneLine(error.Message);
        foreach (var m in mentions) Assert.Contains(m, error.Message);
        return true;
    }

    public static void AssertOneLine(string message)
    {
        Assert.False(string.IsNullOrWhiteSpace(message), "empty message");
        Assert.True(message.IndexOfAny(['\n', '\r']) < 0, $"message is not one line: {message}");
        Assert.DoesNotContain("   at ", message);   // no stack trace folded into the text
    }

    private static Exception? Run(Action read)
    {
        Exception? error = null;
        var task = Task.Factory.StartNew(() =>
        {
            try { read(); }
            catch (Exception e) { error = e; }
        }, TaskCreationOptions.LongRunning);
        if (!task.Wait(Limit)) throw new Xunit.Sdk.XunitException($"the reader did not finish within {Limit.TotalSeconds} s (a hang on corrupt input)");
        return error;
    }
}
