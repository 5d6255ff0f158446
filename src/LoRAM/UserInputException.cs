namespace LoRAM;

/// <summary>Bad input from the user (a file, a flag, a record): the command line reports it in one line, exit code 2.
/// The library throws it wherever the input, not the code, is at fault.</summary>
public class UserInputException(string message, Exception? inner = null) : Exception(message, inner);
