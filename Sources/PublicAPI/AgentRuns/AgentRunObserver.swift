import Executor
import NeoJSON

/// Watches one run of the model loop as it goes, and may shape how it starts: a chat turn (design §13) opens
/// with the session's history instead of a task message, may ask a stronger model, and streams what happens
/// to the session's tailers. Calls come from the runner's thread, except `textDelta` (the curl thread).
protocol AgentRunObserver: Sendable {
    /// The conversation a fresh run starts from instead of the task message; throws when it cannot be read
    /// (the run fails rather than starting without its history).
    func opening() throws -> [ChatMessage]
    /// The model to ask instead of the provider's own (nil: the provider's).
    var model: String? { get }
    /// A model call is about to be made.
    func modelCallStarted()
    /// A piece of the model's text, as the provider streamed it.
    func textDelta(_ text: String)
    /// The model answered: its whole text and the tool calls it asked for.
    func modelAnswered(text: String?, calls: [ToolCall])
    /// A tool call was answered (or refused): what the model reads, redacted.
    func toolAnswered(_ call: ToolCall, output: String, isError: Bool)
    /// The run waits for a technician to decide TIL request `tilId` about `call`.
    func waitingForApproval(_ call: ToolCall, tilId: Int64)
    /// The run succeeded with the model's final text.
    func finished(text: String?)
    /// The run failed (or was cancelled), saying why.
    func failed(_ message: String)
}
