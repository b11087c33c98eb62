import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.jar.*;
import org.apache.felix.framework.Felix;
import org.osgi.framework.*;
import org.osgi.framework.launch.Framework;

/**
 * Builds a GENUINE Apache Felix bundle cache, the way AEM's launchpad leaves one on disk.
 *
 * Usage: java -cp org.apache.felix.framework.jar Harness.java STORAGE_DIR SPEC_FILE
 *
 * STORAGE_DIR becomes org.osgi.framework.storage (e.g. crx-quickstart/launchpad/felix).
 * SPEC_FILE has one bundle per line, tab separated:
 *   location  symbolicName  version  start(0|1)  padBytes  data(0|1)  [manifest  update]
 * Each bundle is a small generated jar (manifest only, plus padBytes of incompressible data
 * stored uncompressed). manifest: "deflated" (default, java.util.jar's writer), "stored" (the
 * manifest entry stored, method 0) or "folded" (deflated, Bundle-SymbolicName folded onto a
 * continuation line in the middle of the name, with ;singleton:=true). update: "-" or
 * "symbolicName@version": the bundle is then updated (Bundle.update) to that jar and not
 * refreshed, so the cache keeps version0.0/ and version0.1/ as a live framework does until its
 * next restart. Bundles with start=1 are started (persistent state 32 in bundle.info);
 * data=1 asks the framework for the bundle's data folder (getDataFile), as AEM's crypto
 * bundles do. The framework is then stopped. Prints "id<TAB>symbolicName<TAB>location" lines.
 */
public class Harness {
  public static void main(String[] args) throws Exception {
    String storage = args[0];
    List<String> spec = Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8);
    Map<String, String> config = new HashMap<>();
    config.put(Constants.FRAMEWORK_STORAGE, storage);
    config.put("org.osgi.framework.bsnversion", "multiple");
    config.put("felix.log.level", "1");
    Framework felix = new Felix(config);
    felix.init();
    felix.start();
    BundleContext ctx = felix.getBundleContext();
    Random random = new Random(42);
    StringBuilder out = new StringBuilder();
    for (String line : spec) {
      if (line.isBlank()) continue;
      String[] f = line.split("\t");
      String location = f[0], bsn = f[1], version = f[2];
      boolean start = f[3].equals("1");
      int pad = Integer.parseInt(f[4]);
      boolean data = f[5].equals("1");
      String manifest = f.length > 6 ? f[6] : "deflated";
      String update = f.length > 7 ? f[7] : "-";
      Bundle b = ctx.installBundle(location, new ByteArrayInputStream(jar(bsn, version, pad, random, manifest)));
      if (!update.equals("-")) {
        String[] u = update.split("@");
        b.update(new ByteArrayInputStream(jar(u[0], u[1], pad, random, manifest)));
        bsn = u[0];
      }
      if (start) {
        b.start();
        if (data) {
          File d = b.getBundleContext().getDataFile("");
          if (d == null) throw new IllegalStateException("no data file support");
          d.mkdirs();
        }
      }
      out.append(b.getBundleId()).append('\t').append(bsn).append('\t').append(location).append('\n');
    }
    felix.stop();
    felix.waitForStop(60000);
    System.out.print(out);
  }

  static byte[] jar(String bsn, String version, int pad, Random random, String manifest) throws IOException {
    if (!manifest.equals("deflated")) return rawJar(bsn, version, manifest);
    Manifest m = new Manifest();
    Attributes a = m.getMainAttributes();
    a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
    a.putValue("Bundle-ManifestVersion", "2");
    a.putValue("Bundle-SymbolicName", bsn);
    a.putValue("Bundle-Version", version);
    a.putValue("Bundle-Name", bsn);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(pad + 1024);
    try (JarOutputStream jos = new JarOutputStream(bytes, m)) {
      if (pad > 0) {
        jos.setLevel(0);
        jos.putNextEntry(new JarEntry("padding.bin"));
        byte[] buf = new byte[65536];
        for (int left = pad; left > 0; left -= buf.length) {
          random.nextBytes(buf);
          jos.write(buf, 0, Math.min(left, buf.length));
        }
        jos.closeEntry();
      }
    }
    return bytes.toByteArray();
  }

  /** A jar holding only a hand-written manifest: stored (method 0) or deflated and folded. */
  static byte[] rawJar(String bsn, String version, String manifest) throws IOException {
    String name = manifest.equals("folded")
        ? bsn.substring(0, bsn.length() / 2) + "\r\n " + bsn.substring(bsn.length() / 2) + ";singleton:=true"
        : bsn;
    byte[] text = ("Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-SymbolicName: " + name
        + "\r\nBundle-Version: " + version + "\r\nBundle-Name: " + bsn + "\r\n\r\n").getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(1024);
    try (JarOutputStream jos = new JarOutputStream(bytes)) {
      JarEntry e = new JarEntry(JarFile.MANIFEST_NAME);
      if (manifest.equals("stored")) {
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(text);
        e.setMethod(JarEntry.STORED);
        e.setSize(text.length);
        e.setCompressedSize(text.length);
        e.setCrc(crc.getValue());
      } else if (!manifest.equals("folded")) {
        throw new IllegalArgumentException("manifest: " + manifest);
      }
      jos.putNextEntry(e);
      jos.write(text);
      jos.closeEntry();
    }
    return bytes.toByteArray();
  }
}
