// The root layout Next.js requires of every app; this one has route handlers only, no pages.
export default function RootLayout({ children }) {
  return children;
}
