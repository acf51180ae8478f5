// A Java sample whose CPU time is one hot method that HotSpot compiles (C2) and keeps
// compiled. Run with -XX:+PreserveFramePointer for frame-pointer stacks through compiled
// code, and `jcmd PID Compiler.perfmap` for its names (/tmp/perf-PID.map). Runs for
// --seconds (default 3); prints "ready" once the hot method has run for a second.
public final class Hot {
    static long hot(int n) {
        long total = 0;
        for (int i = 0; i < n; i++) {
            total = (total + (long) i * i) % 1000003;
        }
        return total;
    }

    static long run(double seconds) {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long sink = 0;
        while (System.nanoTime() < end) {
            sink ^= hot(20000);
        }
        return sink;
    }

    public static void main(String[] arguments) {
        double seconds = 3;
        for (int i = 0; i + 1 < arguments.length; i++) {
            if (arguments[i].equals("--seconds")) seconds = Double.parseDouble(arguments[i + 1]);
        }
        long sink = run(1);
        System.out.println("ready");
        System.out.flush();
        sink ^= run(Math.max(seconds - 1, 0));
        if (sink == 42) System.out.println(sink);
    }
}
