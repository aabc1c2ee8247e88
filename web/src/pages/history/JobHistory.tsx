// Placeholder: replaced by the real page.
export default function JobHistory() {
  return <h1 className="text-xl font-semibold">JobHistory</h1>;
}
