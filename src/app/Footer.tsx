export function Footer() {
  return (
    <footer className="footer">
      Runs entirely in your browser: your photo never leaves this device. Inversion: F/Z+ (Katsumata et al., 2023).
    </footer>
  );
}
