// Placeholder: replaced by the real page.
export default function RunView() {
  return <h1 className="text-xl font-semibold">RunView</h1>;
}
