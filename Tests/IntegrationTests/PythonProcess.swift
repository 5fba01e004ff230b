import Foundation

/// A Python script the tests start on 127.0.0.1 (an upstream, a fake API): written to `directory`, run
/// with `arguments`, and ready once it prints its ephemeral port on stdout. Stopped on `stop` or deinit.
final class PythonProcess {
    let process = Process()
    let port: Int

    init(_ name: String, source: String, arguments: [String] = [], directory: URL) throws {
        let script = directory.appendingPathComponent(name)
        try source.write(to: script, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = Int(line) else {
            process.terminate()
            throw NSError(domain: name, code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) printed no port: \(line)"])
        }
        self.port = port
    }

    deinit { stop() }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}
