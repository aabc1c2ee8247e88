// Placeholder: replaced by the real page.
export default function RunList() {
  return <h1 className="text-xl font-semibold">RunList</h1>;
}
