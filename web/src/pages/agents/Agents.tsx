// Placeholder: replaced by the real page.
export default function Agents() {
  return <h1 className="text-xl font-semibold">Agents</h1>;
}
