// Placeholder: replaced by the real page.
export default function Settings() {
  return <h1 className="text-xl font-semibold">Settings</h1>;
}
